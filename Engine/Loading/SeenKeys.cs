using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Loading;

/// <summary>
/// The keys a direct load has written, each with the unit that wrote it first, so that a key met
/// again is set aside instead of failing the COPY. Keys are compared exactly, by the values
/// PostgreSQL will see (timestamps in microseconds); a pair of keys that PostgreSQL alone finds
/// equal (numerics of different scales) still fails the COPY with a unique violation, and the
/// caller stages as before. A key holding a NULL is never a repeat: a unique index lets NULLs repeat.
/// Reused from load to load (<see cref="Clear"/>), so a load allocates nothing per row.
/// </summary>
public sealed class SeenKeys
{
    private readonly Dictionary<Slice, int> _owners;
    private readonly Dictionary<long, int> _integers = []; // a key of one whole-number column, the common case, without the arena
    private byte[] _arena = new byte[64 * 1024];
    private int _used;

    public SeenKeys() => _owners = new Dictionary<Slice, int>(new SliceComparer(this));

    /// <summary>Keys held.</summary>
    public int Count => _owners.Count + _integers.Count;

    /// <summary>
    /// Adds the key in <paramref name="keyColumns"/> of <paramref name="row"/> for <paramref name="owner"/>;
    /// returns -1 when it is new (or holds a NULL), else the owner that added it first.
    /// </summary>
    public int Add(MappedRow row, IReadOnlyList<int> keyColumns, int owner)
    {
        if (keyColumns.Count == 1 && row.Types[keyColumns[0]] is ColumnType.Bigint or ColumnType.Int)
        {
            if (row.IsNull(keyColumns[0])) return -1;
            ref var writer = ref CollectionsMarshal.GetValueRefOrAddDefault(_integers, row.GetInt64(keyColumns[0]), out var seen);
            if (seen) return writer;
            writer = owner;
            return -1;
        }
        var start = _used;
        foreach (var column in keyColumns)
        {
            if (row.IsNull(column))
            {
                _used = start;
                return -1;
            }
            Append(row, column);
        }
        var key = new Slice(start, _used - start);
        ref var first = ref CollectionsMarshal.GetValueRefOrAddDefault(_owners, key, out var exists);
        if (!exists)
        {
            first = owner;
            return -1;
        }
        _used = start;
        return first;
    }

    public void Clear()
    {
        _owners.Clear();
        _integers.Clear();
        _used = 0;
    }

    private void Append(MappedRow row, int column)
    {
        switch (row.Types[column])
        {
            case ColumnType.Text or ColumnType.Jsonb or ColumnType.Uuid or ColumnType.Bytea:
                var bytes = row.GetBytes(column).Span;
                var target = Reserve(4 + bytes.Length);
                BinaryPrimitives.WriteInt32LittleEndian(target, bytes.Length);
                bytes.CopyTo(target[4..]);
                break;
            case ColumnType.Numeric:
                Span<int> bits = stackalloc int[4];
                decimal.GetBits(row.GetDecimal(column), bits);
                MemoryMarshal.AsBytes(bits).CopyTo(Reserve(16));
                break;
            case ColumnType.Timestamptz or ColumnType.Timestamp: // PostgreSQL keeps microseconds
                BinaryPrimitives.WriteInt64LittleEndian(Reserve(8), row.GetInt64(column) / TimeSpan.TicksPerMicrosecond);
                break;
            case ColumnType.Double:
                var value = row.GetDouble(column);
                BinaryPrimitives.WriteDoubleLittleEndian(Reserve(8), value == 0 ? 0 : value); // -0 = 0 in PostgreSQL
                break;
            default:
                BinaryPrimitives.WriteInt64LittleEndian(Reserve(8), row.GetInt64(column));
                break;
        }
    }

    // Room for length bytes at the end of the arena; the arena moves when it grows, keys are offsets.
    private Span<byte> Reserve(int length)
    {
        if (_arena.Length - _used < length) Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _used + length));
        var span = _arena.AsSpan(_used, length);
        _used += length;
        return span;
    }

    private readonly record struct Slice(int Start, int Length);

    private sealed class SliceComparer(SeenKeys keys) : IEqualityComparer<Slice>
    {
        public bool Equals(Slice a, Slice b) => a.Length == b.Length && Bytes(a).SequenceEqual(Bytes(b));

        public int GetHashCode(Slice key)
        {
            var hash = new HashCode();
            hash.AddBytes(Bytes(key));
            return hash.ToHashCode();
        }

        private ReadOnlySpan<byte> Bytes(Slice key) => keys._arena.AsSpan(key.Start, key.Length);
    }
}
