namespace Ingest.GrainInterfaces;

/// <summary>How one attempt at a unit ended, as its unit grain reports it to the import grain.</summary>
/// <param name="UnitNo">The unit.</param>
/// <param name="Dispatch">The dispatch key of the attempt (the unit grain's key).</param>
/// <param name="End">How it ended.</param>
/// <param name="NotBefore">For <see cref="UnitEnd.RetryLater"/>: when the next attempt may start.</param>
/// <param name="Error">The error of a failed attempt.</param>
[GenerateSerializer, Immutable, Alias("ingest.UnitReport")]
public sealed record UnitReport(
    [property: Id(0)] int UnitNo,
    [property: Id(1)] string Dispatch,
    [property: Id(2)] UnitEnd End,
    [property: Id(3)] DateTimeOffset? NotBefore = null,
    [property: Id(4)] string? Error = null);

/// <summary>The ways an attempt at a unit ends.</summary>
[GenerateSerializer, Alias("ingest.UnitEnd")]
public enum UnitEnd
{
    /// <summary>Its rows and its <c>done</c> state committed.</summary>
    Done,
    /// <summary>It failed; attempts remain, so it runs again after a backoff.</summary>
    RetryLater,
    /// <summary>It failed for good (bad input, or out of attempts).</summary>
    Failed,
    /// <summary>Its silo is stopping: rolled back and handed back without using up the attempt.</summary>
    HandedBack,
    /// <summary>The import is not running (paused): not started, to be handed out again later.</summary>
    ImportNotRunning,
    /// <summary>Another attempt holds the unit, or it already ended: this one committed nothing.</summary>
    Superseded,
    /// <summary>Abandoned by a cancel: rolled back.</summary>
    Abandoned,
    /// <summary>
    /// Its batch rolled back (a batch-mate failed, or the batch was fenced off) or could not take it:
    /// it runs again alone, at once. No attempt was used.
    /// </summary>
    RunAlone,
    /// <summary>It met an error every unit would meet (credentials refused): the import was failed at once, its open units cancelled.</summary>
    ImportFailed,
}
