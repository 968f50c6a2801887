using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Ingest.Engine.Formats;

namespace Ingest.Engine.Json;

/// <summary>
/// Streams the records of one JSON file: the elements of an array found at a dotted path, of a
/// top-level array, or the values of an NDJSON file. Memory stays bounded by the largest record,
/// whatever the file's size: the stream is read in blocks through <see cref="Utf8JsonReader"/>,
/// and each record is handed out as its own UTF-8 bytes, in place in the block buffer.
/// A reader can also start where an earlier one stopped: at a record's <see cref="RecordEnd"/>.
/// </summary>
public sealed class JsonRecordReader : IRecordReader
{
    private const int InitialBufferSize = 64 * 1024;
    private const int MaxRecordBytes = 256 * 1024 * 1024;

    private enum Phase { Resume, Container, Properties, Records, Trailing, Done }

    private readonly string _name;
    private readonly string[] _path;
    private readonly bool _ndjson;

    private readonly long _startOffset;
    private Phase _phase;
    private int _segment;
    private JsonReaderState _state;

    /// <param name="name">The file's name, for error messages.</param>
    /// <param name="recordsPath">Dotted path to the records array; null for a top-level array or NDJSON.</param>
    /// <param name="ndjson">Whether the file holds one JSON value per line.</param>
    /// <param name="startOffset">
    /// Where the stream given to <see cref="ReadAsync"/> starts in the file: 0, or the
    /// <see cref="RecordEnd"/> of a record read before. Inside an array the reader then takes up
    /// after that record's <c>,</c>, and stops at the array's <c>]</c>.
    /// </param>
    public JsonRecordReader(string name, string? recordsPath, bool ndjson, long startOffset = 0)
    {
        _name = name;
        _path = recordsPath is null || ndjson ? [] : recordsPath.Split('.');
        _ndjson = ndjson;
        _startOffset = startOffset;
        RecordEnd = startOffset;
        _phase = ndjson ? Phase.Records : startOffset > 0 ? Phase.Resume : Phase.Container;
        _state = new JsonReaderState(new JsonReaderOptions { AllowMultipleValues = ndjson, CommentHandling = JsonCommentHandling.Skip });
    }

    /// <summary>Total bytes read from the stream so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>The offset in the file just past the last record handed out: where a later reader may start.</summary>
    public long RecordEnd { get; private set; }

    /// <summary>
    /// Yields each record's JSON text (validated). The bytes are valid until the enumeration moves on.
    /// </summary>
    /// <exception cref="SourceDataException">The file is not valid JSON, or has no records array at the path.</exception>
    public async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
        var records = new List<(int Start, int Length)>(); // in the block last parsed
        try
        {
            int start = 0, end = 0;
            long bufferOffset = _startOffset; // absolute position of buffer[0] in the file
            var final = false;
            while (true)
            {
                if (!final)
                {
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        bufferOffset += start;
                        end -= start;
                        start = 0;
                    }
                    if (end == buffer.Length)
                    {
                        // One value is larger than the buffer: grow it.
                        if (buffer.Length >= MaxRecordBytes)
                            throw new SourceDataException($"{_name}: a record at byte {bufferOffset} is larger than {MaxRecordBytes / (1024 * 1024)} MiB");
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        Buffer.BlockCopy(buffer, 0, bigger, 0, end);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                    var n = await stream.ReadAsync(buffer.AsMemory(end), cancellationToken);
                    BytesRead += n;
                    end += n;
                    final = n == 0;
                }

                if (_phase == Phase.Resume)
                {
                    // Past the record read before: white space and comments, then ',' and the next
                    // record, or the array's ']'. The records after the ',' are read as an array of
                    // their own, which the '[' put in the ','s place opens.
                    start += SkipSeparator(buffer.AsSpan(start, end - start), final, out var complete);
                    if (!complete)
                    {
                        if (final) throw new SourceDataException($"{_name}: the file ends at byte {bufferOffset + end}, inside its records array");
                        continue;
                    }
                    if (buffer[start] == (byte)']') yield break;
                    if (buffer[start] != (byte)',')
                        throw new SourceDataException($"{_name}: expected ',' or ']' at byte {bufferOffset + start}, after the record read before (has the file changed?)");
                    buffer[start] = (byte)'[';
                    _segment = _path.Length;
                    _phase = Phase.Container;
                }

                var block = start;
                start += Parse(buffer.AsSpan(block, end - block), final, bufferOffset + block, records);
                foreach (var (recordStart, length) in records)
                {
                    RecordEnd = bufferOffset + block + recordStart + length;
                    yield return buffer.AsMemory(block + recordStart, length);
                }
                records.Clear();
                if (_phase == Phase.Done) yield break;

                if (final)
                {
                    if (_phase is Phase.Container or Phase.Properties)
                        throw new SourceDataException($"{_name}: no records array at '{string.Join('.', _path)}'");
                    yield break;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // Consumes as many complete tokens/records as the block holds; returns the bytes consumed.
    private int Parse(ReadOnlySpan<byte> block, bool final, long blockOffset, List<(int, int)> records)
    {
        var reader = new Utf8JsonReader(block, final, _state);
        try
        {
            while (true)
            {
                var before = reader;
                if (!reader.Read())
                {
                    if (final && _phase == Phase.Container)
                        throw new SourceDataException($"{_name}: file is empty, expected {Expected()}");
                    reader = before;
                    break;
                }
                if (!Step(ref reader, records))
                {
                    reader = before;
                    break;
                }
                if (_phase == Phase.Done) break;
            }
            _state = reader.CurrentState;
            return (int)reader.BytesConsumed;
        }
        catch (JsonException e)
        {
            throw new SourceDataException(
                $"{_name}: invalid JSON at byte {blockOffset + reader.BytesConsumed} (line {e.LineNumber + 1}, position {e.BytePositionInLine + 1}): {FirstSentence(e.Message)}", e);
        }
    }

    // Handles the token just read; false when the value it starts is not complete in this block.
    private bool Step(ref Utf8JsonReader reader, List<(int, int)> records)
    {
        switch (_phase)
        {
            case Phase.Container:
                if (_segment < _path.Length)
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                        throw new SourceDataException($"{_name}: expected an object holding '{_path[_segment]}', found {reader.TokenType}");
                    _phase = Phase.Properties;
                }
                else
                {
                    if (reader.TokenType != JsonTokenType.StartArray)
                        throw new SourceDataException($"{_name}: expected {Expected()}, found {reader.TokenType}");
                    _phase = Phase.Records;
                }
                return true;

            case Phase.Properties:
                if (reader.TokenType == JsonTokenType.EndObject)
                    throw new SourceDataException($"{_name}: no records array at '{string.Join('.', _path)}'");
                if (reader.ValueTextEquals(_path[_segment]))
                {
                    _segment++;
                    _phase = Phase.Container;
                    return true;
                }
                return reader.Read() && reader.TrySkip();

            case Phase.Records:
                if (reader.TokenType == JsonTokenType.EndArray && !_ndjson)
                {
                    _phase = _startOffset > 0 ? Phase.Done : Phase.Trailing;
                    return true;
                }
                var recordStart = (int)reader.TokenStartIndex;
                if (!reader.TrySkip()) return false;
                records.Add((recordStart, (int)reader.BytesConsumed - recordStart));
                return true;

            default:
                // After the records: read the rest only to report a malformed file.
                return reader.TrySkip();
        }
    }

    // White space and comments at the start of block: how many bytes they take, and whether what
    // follows them is in the block (complete) or more bytes are needed to tell.
    private static int SkipSeparator(ReadOnlySpan<byte> block, bool final, out bool complete)
    {
        var i = 0;
        while (true)
        {
            while (i < block.Length && block[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') i++;
            var rest = block[i..];
            if (rest.Length == 0 || (rest.Length == 1 && rest[0] == (byte)'/' && !final))
            {
                complete = false;
                return i;
            }
            if (rest.Length < 2 || rest[0] != (byte)'/' || rest[1] is not ((byte)'/' or (byte)'*'))
            {
                complete = true;
                return i;
            }
            var end = rest[1] == (byte)'/' ? rest[2..].IndexOf((byte)'\n') : rest[2..].IndexOf("*/"u8);
            if (end < 0)
            {
                complete = false;
                return i;
            }
            i += 2 + end + (rest[1] == (byte)'/' ? 1 : 2);
        }
    }

    private string Expected() => _path.Length == 0 ? "a top-level JSON array of records" : $"an array of records at '{string.Join('.', _path)}'";

    private static string FirstSentence(string message)
    {
        var i = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return i > 0 ? message[..i].TrimEnd() : message;
    }
}
