namespace Ingest.GrainInterfaces;

/// <summary>
/// The life of a unit: <c>pending</c> → <c>running</c> (claimed, its fencing token bumped) → <c>done</c> | <c>failed</c>,
/// back to <c>pending</c> when an attempt fails and attempts remain, or when its silo hands it back;
/// <c>cancelled</c> with its import. Its names (in the catalog, in JSON, on screen) are <see cref="StateNames"/>'.
/// </summary>
[GenerateSerializer, Alias("ingest.UnitState")]
public enum UnitState
{
    /// <summary>Waiting for an attempt (possibly not before a backoff time).</summary>
    Pending,
    /// <summary>Claimed by an attempt on a silo (its fencing token bumped).</summary>
    Running,
    /// <summary>Loaded; its rows and this state committed together.</summary>
    Done,
    /// <summary>Out of attempts, or bad input; its error is kept.</summary>
    Failed,
    /// <summary>Its import was cancelled.</summary>
    Cancelled,
}
