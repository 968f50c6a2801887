using System.Buffers.Binary;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Engine.Loading;

/// <summary>
/// A <c>COPY … FROM STDIN (FORMAT BINARY)</c> of <see cref="MappedRow"/>s, on the caller's
/// connection. Rows are encoded here in PostgreSQL's binary COPY format (<see cref="CopyRowFormat"/>)
/// into a buffer that goes out through Npgsql's raw COPY stream, or come already encoded
/// (<see cref="EncodedRows"/>). Npgsql's row importer binds every value as a parameter, and that
/// took the silos a fifth of their CPU on nested loads.
/// <para>
/// Writing → Completed, or Disposed without completing: the COPY is cancelled, and the caller's
/// transaction must be rolled back.
/// </para>
/// </summary>
/// <remarks>The format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).</remarks>
public sealed class BinaryCopy : IAsyncDisposable
{
    // "PGCOPY\n\377\r\n\0", then a flags field and a header extension length, both 0.
    private static ReadOnlySpan<byte> Header => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0, 0, 0, 0, 0, 0, 0, 0, 0];

    private const int BufferBytes = 64 * 1024;

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlRawCopyStream _stream;
    private byte[] _buffer = new byte[BufferBytes];
    private int _used;
    private bool _done;

    private BinaryCopy(NpgsqlConnection connection, NpgsqlRawCopyStream stream)
    {
        _connection = connection;
        _stream = stream;
        Header.CopyTo(_buffer);
        _used = Header.Length;
    }

    /// <summary>Rows written so far.</summary>
    public long Rows { get; private set; }

    /// <param name="connection">An open connection, inside the caller's transaction.</param>
    /// <param name="copy">The COPY statement, <c>FROM STDIN (FORMAT BINARY)</c>, with its column list.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<BinaryCopy> BeginAsync(NpgsqlConnection connection, string copy, CancellationToken cancellationToken = default) =>
        new(connection, await connection.BeginRawBinaryCopyAsync(copy, cancellationToken));

    /// <summary>Writes a row: its columns (the first <paramref name="columns"/>, or all), then an optional <c>bigint</c> (a staging table's ordinal).</summary>
    public ValueTask WriteAsync(MappedRow row, long? ord = null, int? columns = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        var width = columns ?? row.Width;
        var size = CopyRowFormat.Size(row, width, ord.HasValue);
        if (_buffer.Length - _used >= size)
        {
            Encode(row, width, ord, size);
            return ValueTask.CompletedTask;
        }
        return FlushThenWriteAsync(row, width, ord, size, cancellationToken);
    }

    /// <summary>
    /// Writes one row encoded already (a tuple of a binary COPY: its field count, then its fields), in
    /// the COPY's column order, then an optional <c>bigint</c> (a staging table's ordinal).
    /// </summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> tuple, long? ord, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        var size = tuple.Length + (ord.HasValue ? 12 : 0);
        if (_buffer.Length - _used >= size)
        {
            EncodeTuple(tuple.Span, ord, size);
            return ValueTask.CompletedTask;
        }
        return FlushThenWriteAsync(tuple, ord, size, cancellationToken);
    }

    private async ValueTask FlushThenWriteAsync(ReadOnlyMemory<byte> tuple, long? ord, int size, CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken);
        if (size > _buffer.Length) _buffer = new byte[size];
        EncodeTuple(tuple.Span, ord, size);
    }

    private void EncodeTuple(ReadOnlySpan<byte> tuple, long? ord, int size)
    {
        var target = Reserve(size);
        tuple.CopyTo(target);
        if (ord is { } o)
        {
            BinaryPrimitives.WriteInt16BigEndian(target, (short)(BinaryPrimitives.ReadInt16BigEndian(tuple) + 1));
            BinaryPrimitives.WriteInt32BigEndian(target[tuple.Length..], 8);
            BinaryPrimitives.WriteInt64BigEndian(target[(tuple.Length + 4)..], o);
        }
        Rows++;
    }

    /// <summary>Writes rows encoded already, in the COPY's column order.</summary>
    public async ValueTask WriteAsync(EncodedRows rows, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        foreach (var chunk in rows.Chunks)
        {
            if (_buffer.Length - _used >= chunk.Length)
            {
                chunk.Span.CopyTo(Reserve(chunk.Length));
                continue;
            }
            await FlushAsync(cancellationToken);
            await _stream.WriteAsync(chunk, cancellationToken);
        }
        Rows += rows.Count;
    }

    private async ValueTask FlushThenWriteAsync(MappedRow row, int width, long? ord, int size, CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken);
        if (size > _buffer.Length) _buffer = new byte[size]; // one row larger than the buffer: a big jsonb document
        Encode(row, width, ord, size);
    }

    /// <summary>
    /// Ends the COPY; PostgreSQL's error for any row (a unique violation, say) is thrown here. The
    /// token interrupts the server too, while it still works on the rows (a slow trigger, a lock wait).
    /// </summary>
    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        if (_buffer.Length - _used < 2) await FlushAsync(cancellationToken);
        BinaryPrimitives.WriteInt16BigEndian(Reserve(2), -1); // the trailer
        await FlushAsync(cancellationToken);
        _done = true;
        // Npgsql's raw COPY stream waits for the server's result without a token and sends no cancel
        // request: a silo handing its units back waited for a slow COPY to end on its own.
        Task? cancelling = null;
        var registration = cancellationToken.Register(() => cancelling = CancelServerAsync());
        try
        {
            await _stream.DisposeAsync();
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.QueryCanceled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("the COPY was cancelled", e, cancellationToken);
        }
        finally
        {
            await registration.DisposeAsync(); // waits for a callback under way
            // The cancel reaches the server before the session runs anything else (an idle session ignores it).
            if (cancelling is not null) await cancelling;
        }
    }

    // A cancel request for this COPY's session, from another one (the protocol's own cancel request is not public in Npgsql).
    private async Task CancelServerAsync()
    {
        try
        {
            await using var other = await _connection.CloneWithAsync(_connection.ConnectionString);
            await other.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT pg_cancel_backend($1)", other) { Parameters = { new() { Value = _connection.ProcessID } } };
            await cmd.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException) { /* the COPY then ends on its own */ }
    }

    /// <summary>Cancels the COPY if it was not completed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_done) return;
        _done = true;
        try { await _stream.CancelAsync(); }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or OperationCanceledException or IOException) { /* the transaction is rolled back anyway */ }
        await _stream.DisposeAsync();
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(_buffer.AsMemory(0, _used), cancellationToken);
        _used = 0;
    }

    private void Encode(MappedRow row, int width, long? ord, int size)
    {
        CopyRowFormat.Encode(row, width, ord, Reserve(size));
        Rows++;
    }

    private Span<byte> Reserve(int length)
    {
        var span = _buffer.AsSpan(_used, length);
        _used += length;
        return span;
    }
}
