namespace Ingest.Grains;

/// <summary>
/// The units an import grain handed out and has not heard back from, and the attempts (dispatches)
/// carrying them: one unit each, or a batch of small units under one dispatch. Parallelism counts
/// dispatches, since a batch loads its units one after another in one transaction.
/// </summary>
internal sealed class InFlightUnits
{
    /// <summary>One attempt, keyed by its unit grain's key, and the silo it runs on once known.</summary>
    public sealed class Dispatch(string key)
    {
        public string Key { get; } = key;
        public string? Silo { get; set; }
        /// <summary>The silo it was sent to, until it says where it runs.</summary>
        public string? Target { get; set; }
        public int Units { get; set; }
    }

    private readonly Dictionary<int, Dispatch> _units = [];
    private readonly Dictionary<string, Dispatch> _dispatches = [];

    /// <summary>Units in flight.</summary>
    public int Count => _units.Count;

    /// <summary>Attempts in flight (a batch is one).</summary>
    public int Dispatches => _dispatches.Count;

    public IEnumerable<int> UnitNos => _units.Keys;

    public IEnumerable<Dispatch> AllDispatches => _dispatches.Values;

    /// <summary>Attempts in flight on <paramref name="silo"/>, counting those sent to it and not yet started.</summary>
    public int On(string silo) => _dispatches.Values.Count(d => (d.Silo ?? d.Target) == silo);

    public bool TryGet(int unitNo, out Dispatch dispatch) => _units.TryGetValue(unitNo, out dispatch!);

    public bool TryGetDispatch(string key, out Dispatch dispatch) => _dispatches.TryGetValue(key, out dispatch!);

    /// <summary>Tracks <paramref name="unitNo"/> under the dispatch keyed <paramref name="key"/>, created if new.</summary>
    public Dispatch Add(int unitNo, string key)
    {
        Remove(unitNo);
        if (!_dispatches.TryGetValue(key, out var dispatch)) _dispatches[key] = dispatch = new Dispatch(key);
        dispatch.Units++;
        _units[unitNo] = dispatch;
        return dispatch;
    }

    public bool Remove(int unitNo)
    {
        if (!_units.Remove(unitNo, out var dispatch)) return false;
        if (--dispatch.Units == 0) _dispatches.Remove(dispatch.Key);
        return true;
    }

    public void Clear()
    {
        _units.Clear();
        _dispatches.Clear();
    }
}
