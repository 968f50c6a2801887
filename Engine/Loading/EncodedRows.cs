using System.Buffers;
using Ingest.Engine.Mapping;

namespace Ingest.Engine.Loading;

/// <summary>
/// Rows encoded in PostgreSQL's binary COPY format as they are taken (<see cref="CopyRowFormat"/>),
/// waiting for their COPY (<see cref="BinaryCopy.WriteAsync(EncodedRows, CancellationToken)"/>).
/// A row encoded right after it was mapped is read while it is still in the cache, and waits in a
/// few dozen bytes, not in a <see cref="MappedRow"/> of a few hundred. The chunks come from the
/// shared array pool and go back to it at <see cref="Clear"/>: a silo holds chunks for the rows in
/// flight, not for every load it ever ran.
/// </summary>
/// <param name="columns">How many of each row's first columns the COPY takes.</param>
/// <param name="ord">Whether each row ends with its ordinal (a staging table's last column).</param>
public sealed class EncodedRows(int columns, bool ord)
{
    private const int ChunkBytes = 128 * 1024;

    private readonly List<byte[]> _chunks = [];
    private readonly List<int> _used = []; // per chunk in use, its bytes

    /// <summary>How rows are encoded: their first <c>Columns</c>, then their ordinal when <c>Ord</c>.</summary>
    public (int Columns, bool Ord) Layout => (columns, ord);

    /// <summary>Rows taken since the last <see cref="Clear"/>.</summary>
    public int Count { get; private set; }

    /// <summary>Their bytes.</summary>
    public long Bytes { get; private set; }

    /// <summary>The encoded rows, in the order they were taken.</summary>
    public IEnumerable<ReadOnlyMemory<byte>> Chunks
    {
        get
        {
            for (var i = 0; i < _used.Count; i++) yield return _chunks[i].AsMemory(0, _used[i]);
        }
    }

    public void Add(MappedRow row, long rowOrd)
    {
        var size = CopyRowFormat.Size(row, columns, ord);
        var last = _used.Count - 1;
        if (last < 0 || _chunks[last].Length - _used[last] < size) last = NextChunk(size);
        CopyRowFormat.Encode(row, columns, ord ? rowOrd : null, _chunks[last].AsSpan(_used[last], size));
        _used[last] += size;
        Bytes += size;
        Count++;
    }

    /// <summary>Forgets the rows and returns their chunks to the pool: call it once they are written, or will never be.</summary>
    public void Clear()
    {
        foreach (var chunk in _chunks) ArrayPool<byte>.Shared.Return(chunk);
        _chunks.Clear();
        _used.Clear();
        Count = 0;
        Bytes = 0;
    }

    // A row larger than a chunk (a big jsonb document) gets a chunk of its own size.
    private int NextChunk(int size)
    {
        _chunks.Add(ArrayPool<byte>.Shared.Rent(Math.Max(ChunkBytes, size)));
        _used.Add(0);
        return _chunks.Count - 1;
    }
}
