using System.Buffers;
using Ingest.Engine.Formats;
using Ingest.Engine.Mapping;

namespace Ingest.Engine.Sources;

/// <summary>
/// A unit opened at a checkpoint: its records one at a time, each with its index in the unit, and
/// the checkpoint after the last one read. A load may take a chunk of its records, commit, and go on
/// with the next chunk from the same reading.
/// </summary>
public sealed class UnitReading : IAsyncDisposable
{
    private readonly OpenedObject _opened;
    private readonly Stream _content;
    private readonly ContentCompression _compression;
    private readonly IRecordReader _reader;
    private ReadOnlyMemory<byte> _current;
    private readonly bool _paged;
    private readonly DigestStream? _digest;
    private IAsyncEnumerator<ReadOnlyMemory<byte>>? _records;
    private long _next;
    private byte[]? _contentHash;

    // paged: the content is one page, read from its start, which lies at from.Offset in the unit.
    internal UnitReading(UnitDescriptor unit, OpenedObject opened, Stream content, ContentCompression compression, IRecordReader reader, UnitCheckpoint from,
        DigestStream? digest = null, bool paged = false)
    {
        Unit = unit;
        _opened = opened;
        _content = content;
        _compression = compression;
        _reader = reader;
        _digest = digest;
        _next = from.Records;
        _paged = paged;
        Start = from;
    }

    /// <summary>The unit being read, as planned.</summary>
    public UnitDescriptor Unit { get; }

    /// <summary>
    /// Whether the unit is read page by page (an HTTP source): this reading is one page, loaded whole
    /// in one transaction; the unit goes on at <see cref="Checkpoint"/> once it is <see cref="Exhausted"/>.
    /// </summary>
    public bool Paged => _paged;

    /// <summary>A page read to its end whose unit goes on with another page: the next one is opened at <see cref="Checkpoint"/>.</summary>
    public bool Exhausted { get; private set; }

    /// <summary>What the source noticed that the import's events should keep.</summary>
    public IReadOnlyList<string> Warnings => _opened.Warnings;

    // Makes a fresh reading of the same content held in memory (a fetched page).
    internal Func<UnitReading>? Again { get; init; }

    /// <summary>
    /// A fresh reading of the same content, from the same start, when the content is held in memory
    /// (a fetched page): a retried commit reads it again instead of fetching it again. Null otherwise.
    /// </summary>
    public UnitReading? Replay() => Again?.Invoke();

    /// <summary>What the source says of the file or object being read.</summary>
    public SourceObject Info => _opened.Info;

    /// <summary>Where this reading started.</summary>
    public UnitCheckpoint Start { get; }

    /// <summary>The record read last (valid until the next <see cref="MoveNextAsync"/>); written now when its reader defers it.</summary>
    public ReadOnlyMemory<byte> Current => _current.IsEmpty && _reader is ITextFields fields ? fields.Json() : _current;

    /// <summary>
    /// The record read last as text fields, when its reader has them (a CSV row): a flat mapping reads
    /// them instead of <see cref="Current"/>, after <see cref="ITextFields.DeferJson"/>. Null otherwise.
    /// </summary>
    public ITextFields? Fields => _reader as ITextFields;

    /// <summary>
    /// Why <see cref="Current"/> cannot be mapped (a CSV row with too few fields, a broken quote),
    /// with the line it starts on: it is rejected as it is. Null when it can be mapped.
    /// </summary>
    public RecordReject? Unreadable => _reader.Problem is { } problem ? new RecordReject("$", problem) : null;

    /// <summary><see cref="Current"/> as the file holds it (a CSV row's text), for rejects.</summary>
    public ReadOnlyMemory<byte> Original => _reader.Original is { IsEmpty: false } original ? original : Current;

    /// <summary>For a batch of messages: the message of <see cref="Current"/>, for message <c>meta</c> columns; null otherwise.</summary>
    public IMessageFacts? Messages => _reader as IMessageFacts;

    /// <summary>
    /// What <see cref="RecordCursor"/> observes of <see cref="Current"/>: the cursor its source computed
    /// (a SQL row's canonical pair), or else the record itself.
    /// </summary>
    public ReadOnlySpan<byte> CursorSource => _reader.Cursor is { IsEmpty: false } cursor ? cursor.Span : Current.Span;

    /// <summary>Whether <see cref="Current"/> is a row of the target's binary COPY, in its column order, instead of JSON (<see cref="IRecordReader.Encoded"/>).</summary>
    public bool Encoded => _reader.Encoded;

    /// <summary>The 1-based line where <see cref="Current"/> starts in its file; 0 when the format has no lines.</summary>
    public long Line => _reader.Line;

    /// <summary>The source columns of <see cref="Current"/> the reader made NULL (MySQL's zero dates), counted as <c>zeroDate.column</c>.</summary>
    public IReadOnlyList<string> Nulled => _reader.Nulled;

    /// <summary>A reason for <see cref="Current"/>, with the line it starts on when the format has lines.</summary>
    public string WithLine(string reason) => Line > 0 ? $"line {Line}: {reason}" : reason;

    /// <summary>The index of <see cref="Current"/> in the unit (0-based).</summary>
    public long RecordIndex => _next - 1;

    /// <summary>Whether the unit's records have all been read.</summary>
    public bool Ended { get; private set; }

    /// <summary>The version read, once the records have all been read (with the hash of its bytes when they were hashed); null until then.</summary>
    public LoadedVersion? Version => Ended ? new LoadedVersion(Info, _contentHash) : null;

    /// <summary>
    /// How far into the (decompressed) content the unit is: past the last record read, or once the
    /// records have all been read, at the end of the content.
    /// </summary>
    public long Position => _paged
        ? Start.Offset + (Ended || Exhausted ? _reader.BytesRead : _reader.RecordEnd)
        : Ended ? Start.Offset + _reader.BytesRead : _reader.RecordEnd;

    /// <summary>Where a later reading would start: after the records read so far (past a page read whole: the next page).</summary>
    public UnitCheckpoint Checkpoint => !_paged ? new(_next, _reader.RecordEnd, Info.ETag, _reader.State)
        : Exhausted ? _opened.Then! with { Records = _next, Offset = Start.Offset + _reader.BytesRead }
        : new(_next, Start.Offset + _reader.RecordEnd, null, Start.State);

    /// <summary>Reads the next record; false at the end of the unit.</summary>
    /// <exception cref="SourceDataException">The content is malformed or its compression corrupt.</exception>
    public async ValueTask<bool> MoveNextAsync(CancellationToken cancellationToken = default)
    {
        if (Ended || Exhausted) return false;
        _records ??= _reader.ReadAsync(_content, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            if (!await _records.MoveNextAsync())
            {
                if (_paged && _opened.Then is not null) Exhausted = true;
                else
                {
                    if (_digest is not null) _contentHash = await _digest.FinishAsync(cancellationToken: cancellationToken);
                    Ended = true;
                }
                return false;
            }
        }
        catch (Exception e) when (ContentCompressions.IsCorruption(e))
        {
            throw new SourceDataException($"{Info.Key}: corrupt {_compression.ToString().ToLowerInvariant()} data after record {_next} ({e.Message})", e);
        }
        _current = _records.Current;
        _next++;
        return true;
    }

    // Decompressed content resumes by reading up to the checkpoint and dropping what was read.
    internal async Task SkipAsync(long bytes, CancellationToken cancellationToken)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (bytes > 0)
            {
                int n;
                try { n = await _content.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, bytes)), cancellationToken); }
                catch (Exception e) when (ContentCompressions.IsCorruption(e))
                {
                    throw new SourceDataException($"{Info.Key}: corrupt {_compression.ToString().ToLowerInvariant()} data before record {_next} ({e.Message})", e);
                }
                if (n == 0) throw new SourceDataException($"{Info.Key}: ends before byte {Start.Offset}, where its loaded records ended (has the file changed?)");
                bytes -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_records is not null) await _records.DisposeAsync();
        await _content.DisposeAsync();
        await _opened.DisposeAsync();
    }
}
