using System.Collections.Concurrent;
using Ingest.Engine.Mapping;

namespace Ingest.Engine.Loading;

/// <summary>
/// What a direct load (a unit's chunk, or a batch of units) needs to take a key twice without
/// leaving the fast path: the keys it wrote (<see cref="SeenKeys"/>), and the records it set aside
/// because their key was written already. After the direct COPY, each unit's set-aside records are
/// merged, in unit order, in the same transaction (<see cref="Groups"/>): the last occurrence of a
/// key wins, with the rows and counts of a load that staged each unit whole.
/// <para>
/// Records set aside wait as their raw bytes, within a budget: past it, a repeated record is not
/// set aside, its COPY meets its key, and the load is staged as a whole.
/// </para>
/// </summary>
public sealed class RepeatedKeys
{
    /// <summary>Bytes of records set aside in one load before repeats make the load stage whole.</summary>
    public const int MaxBytes = 16 * 1024 * 1024;

    // Shared by every import's loads, as many as a silo runs at once: kept per import, the tables of
    // imports that ended stayed with their loaders and a warm silo's memory grew with each import.
    private static readonly ConcurrentBag<RepeatedKeys> Pool = [];
    private static readonly int MostPooled = 2 * Environment.ProcessorCount;
    private static int _pooled;

    private readonly SeenKeys _keys = new();
    private readonly List<Entry> _entries = [];
    private byte[] _bytes = new byte[16 * 1024];
    private int _used;

    /// <summary>A record set aside: its unit (in load order), index, bytes, and whether the same unit wrote its key first.</summary>
    private readonly record struct Entry(int Unit, long RecordIndex, int Start, int Length, bool Replaces);

    /// <summary>Records set aside.</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// Whether the record, whose key is the <paramref name="keyColumns"/> of <paramref name="row"/>,
    /// repeats a key this load wrote: then it is set aside (the caller writes nothing of it). Otherwise
    /// its key is taken as written by <paramref name="unit"/>.
    /// </summary>
    public bool SetAside(MappedRow row, IReadOnlyList<int> keyColumns, int unit, long recordIndex, ReadOnlySpan<byte> record) =>
        Repeats(row, keyColumns, unit, out var replaces) && SetAside(unit, recordIndex, replaces, record);

    /// <summary>
    /// Whether the record's key (the <paramref name="keyColumns"/> of <paramref name="row"/>) repeats
    /// one this load wrote, and whether <paramref name="unit"/> wrote it (<paramref name="replaces"/>):
    /// then the caller sets the record aside (<see cref="SetAside(int, long, bool, ReadOnlySpan{byte})"/>).
    /// Otherwise its key is taken as written by <paramref name="unit"/>. Past the budget, no key is taken.
    /// </summary>
    public bool Repeats(MappedRow row, IReadOnlyList<int> keyColumns, int unit, out bool replaces)
    {
        var writer = _used >= MaxBytes ? -1 : _keys.Add(row, keyColumns, unit);
        replaces = writer == unit;
        return writer >= 0;
    }

    /// <summary>Sets a repeated record aside; false when it does not fit the budget (the caller writes it, and its COPY meets its key).</summary>
    public bool SetAside(int unit, long recordIndex, bool replaces, ReadOnlySpan<byte> record)
    {
        if (_used + record.Length > MaxBytes) return false;
        if (_bytes.Length - _used < record.Length) Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _used + record.Length));
        record.CopyTo(_bytes.AsSpan(_used));
        _entries.Add(new Entry(unit, recordIndex, _used, record.Length, replaces));
        _used += record.Length;
        return true;
    }

    /// <summary>
    /// The records <paramref name="unit"/> set aside, in two groups loaded one after the other: those
    /// whose key the unit wrote itself (<c>Replaces</c>: the rows it wrote are overwritten, or taken
    /// back and written again, so the unit counts the key once, inserted, and its earlier occurrences
    /// unchanged), and those whose key an earlier unit of the load wrote (merged as this unit's upsert).
    /// </summary>
    public IEnumerable<(bool Replaces, IReadOnlyList<SetAsideRecord> Records)> Groups(int unit)
    {
        foreach (var replaces in (bool[])[true, false])
        {
            var records = _entries.Where(e => e.Unit == unit && e.Replaces == replaces)
                .Select(e => new SetAsideRecord(e.RecordIndex, _bytes.AsMemory(e.Start, e.Length))).ToList();
            if (records.Count > 0) yield return (replaces, records);
        }
    }

    /// <summary>An empty instance, pooled if one is free.</summary>
    public static RepeatedKeys Rent()
    {
        if (!Pool.TryTake(out var pooled)) return new RepeatedKeys();
        Interlocked.Decrement(ref _pooled);
        return pooled;
    }

    /// <summary>Gives back an instance that is no longer used: cleared, and pooled unless the pool is full.</summary>
    public static void Return(RepeatedKeys repeats)
    {
        repeats.Clear();
        if (Interlocked.Increment(ref _pooled) <= MostPooled) Pool.Add(repeats);
        else Interlocked.Decrement(ref _pooled);
    }

    public void Clear()
    {
        _keys.Clear();
        _entries.Clear();
        _used = 0;
    }
}

/// <summary>A record a direct load set aside: its index in its unit, and its bytes (valid until the load's <see cref="RepeatedKeys.Clear"/>).</summary>
public readonly record struct SetAsideRecord(long Index, ReadOnlyMemory<byte> Json);
