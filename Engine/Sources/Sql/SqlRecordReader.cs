using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ingest.Engine.Formats;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// Reads one unit of a SQL source (the table or query whole, or a key range of it) and yields each
/// row as a small JSON object of its columns, by name, so that the mapper reads it as it reads a
/// JSON record: types, formats, validation, dedup and references work unchanged. It connects when
/// first read, in a read-only transaction of its own, and disconnects when its enumeration ends.
/// <para>
/// A key range is read in key order; its checkpoint's state is the key of the last row read and how
/// many rows of that key were read (<see cref="State"/>), so a reading started there asks for the
/// keys from that one on and skips those rows. A splitBy column that is unique (a key) resumes
/// exactly; rows sharing a key value resume by their count, which holds while they do not change
/// between the two readings. A unit without a key range is read in one transaction
/// (<see cref="SqlConnector"/> sets no chunks for it).
/// </para>
/// <para>
/// An incremental import's reader reads only the rows of its window (<see cref="SqlWindow"/>) and gives
/// each row's canonical pair <c>[cursor, tieBreak]</c> as <see cref="Cursor"/>: the row's own JSON
/// writes dates and times in other forms, which would not order alike in C# and in jsonb.
/// </para>
/// </summary>
public abstract class SqlRecordReader : IRecordReader
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    private readonly ArrayBufferWriter<byte> _json = new(1024);
    private readonly ArrayBufferWriter<byte> _cursor = new(64);
    private readonly Utf8JsonWriter _cursorWriter;
    private readonly long _start;
    private readonly string? _initialState;
    private readonly string? _resumeAt;
    private readonly long _skip;
    private readonly List<string> _nulled = [];
    private ReadOnlyMemory<byte> _tuple;
    private long _bytes;
    private string? _last;
    private long _ties;

    protected SqlRecordReader(SqlSourceSpec spec, SourceConnection connection, IReadOnlyList<string>? columns, KeyRange? range, UnitCheckpoint from, SqlIncrement? increment)
    {
        Spec = spec;
        Increment = increment;
        _cursorWriter = new Utf8JsonWriter(_cursor, WriterOptions);
        Connection = connection;
        Columns = columns;
        Range = range;
        _start = from.Offset;
        _initialState = from.State;
        if (from.State is { } json && range is not null)
        {
            var state = JsonSerializer.Deserialize<ResumeState>(json)
                        ?? throw new SourceDataException($"{range.Column}: the checkpoint does not say which key it reached");
            (_resumeAt, _skip) = (state.Last, state.Ties);
        }
        Writer = new Utf8JsonWriter(_json, WriterOptions);
    }

    protected SqlSourceSpec Spec { get; }

    /// <summary>The cursor and bound of an incremental import; null: every row is read.</summary>
    protected SqlIncrement? Increment { get; }

    /// <summary>The current row's canonical pair <c>[cursor, tieBreak]</c> (an incremental import's); empty otherwise.</summary>
    public ReadOnlyMemory<byte> Cursor => _cursor.WrittenMemory;

    /// <summary>Sets the current row's pair from its cursor and tie-break values as the driver gives them.</summary>
    protected void SetCursor(SqlWindow window, object cursor, object tieBreak)
    {
        _cursor.ResetWrittenCount();
        _cursorWriter.Reset(_cursor);
        window.Pair(_cursorWriter, cursor, tieBreak);
        _cursorWriter.Flush();
    }

    protected SourceConnection Connection { get; }

    /// <summary>The columns read; null: every one.</summary>
    protected IReadOnlyList<string>? Columns { get; }

    /// <summary>The key range read; null: the whole table or query.</summary>
    protected KeyRange? Range { get; }

    /// <summary>Where the current row is written, as one JSON object.</summary>
    protected Utf8JsonWriter Writer { get; }

    /// <summary>Whether the rows yielded are tuples of the target's binary COPY (<see cref="RowRelay"/>) instead of JSON objects.</summary>
    public bool Encoded { get; protected set; }

    /// <summary>The current row as a tuple of the target's binary COPY, instead of <see cref="Writer"/>'s object (<see cref="Encoded"/>).</summary>
    protected void Relay(ReadOnlyMemory<byte> tuple) => _tuple = tuple;

    public long RecordEnd => _start + _bytes;

    public long BytesRead => _bytes;

    /// <summary>The key of the last row read and how many rows of that key were read; the checkpoint's own state before any.</summary>
    public string? State => _last is null ? _initialState : JsonSerializer.Serialize(new ResumeState(_last, _ties));

    /// <summary>The source columns of the current row that were made NULL (MySQL's zero dates).</summary>
    public IReadOnlyList<string> Nulled => _nulled;

    /// <summary>Marks a column of the current row as made NULL.</summary>
    protected void Null(string column)
    {
        Writer.WriteNull(column);
        _nulled.Add(column);
    }

    public async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadAsync(Stream content, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var skipped = 0L;
        await foreach (var key in RowsAsync(_resumeAt, cancellationToken))
        {
            if (!Encoded) await Writer.FlushAsync(cancellationToken);
            var row = Encoded ? _tuple : _json.WrittenMemory;
            if (_resumeAt is not null && skipped < _skip && key == _resumeAt)
            {
                // A row of the last key committed: read before.
                skipped++;
                Reset();
                continue;
            }
            if (key is not null)
            {
                if (key == _last) _ties++;
                else if (_last is null && key == _resumeAt) _ties = _skip + 1;
                else (_last, _ties) = (key, 1);
                _last = key;
            }
            _bytes += row.Length;
            yield return row;
            Reset();
        }
    }

    private void Reset()
    {
        _json.ResetWrittenCount();
        Writer.Reset(_json);
        _nulled.Clear();
        _cursor.ResetWrittenCount();
    }

    /// <summary>
    /// Writes each row into <see cref="Writer"/> (one object) and yields its key in canonical text
    /// (null without a key range), in key order from <paramref name="resumeAt"/> when given.
    /// </summary>
    protected abstract IAsyncEnumerable<string?> RowsAsync(string? resumeAt, CancellationToken cancellationToken);

    private sealed record ResumeState(string Last, long Ties);
}
