namespace Ingest.GrainInterfaces;

/// <summary>
/// The life of an import: <c>pending</c> (stored, not yet planned) → <c>running</c> ⇄ <c>paused</c>
/// → <c>completed</c> | <c>completed_with_errors</c> | <c>failed</c> (could not be planned) | <c>cancelled</c>.
/// Its names (in the catalog, in JSON, on screen) are <see cref="StateNames"/>'.
/// </summary>
[GenerateSerializer, Alias("ingest.ImportState")]
public enum ImportState
{
    /// <summary>Stored; waiting for its import grain to plan it into units.</summary>
    Pending,
    /// <summary>Planned; its units are being loaded.</summary>
    Running,
    /// <summary>No new unit starts; those in flight finish.</summary>
    Paused,
    /// <summary>Every unit is done.</summary>
    Completed,
    /// <summary>Every unit ended, some of them failed.</summary>
    CompletedWithErrors,
    /// <summary>The import could not run at all (e.g. its source or target is missing).</summary>
    Failed,
    /// <summary>Cancelled by a user; units in flight were rolled back.</summary>
    Cancelled,
}

/// <summary>What follows from an import's state.</summary>
public static class ImportStateExtensions
{
    /// <summary>Whether an import in this state will change no more.</summary>
    public static bool IsFinal(this ImportState state) =>
        state is ImportState.Completed or ImportState.CompletedWithErrors or ImportState.Failed or ImportState.Cancelled;
}
