namespace Ingest.GrainInterfaces;

/// <summary>
/// The life of an import: <c>pending</c> (stored, not yet planned) → <c>running</c> ⇄ <c>paused</c>
/// → <c>completed</c> | <c>completed_with_errors</c> | <c>failed</c> (could not be planned) | <c>cancelled</c>.
/// </summary>
public static class ImportState
{
    /// <summary>Stored; waiting for its import grain to plan it into units.</summary>
    public const string Pending = "pending";
    /// <summary>Planned; its units are being loaded.</summary>
    public const string Running = "running";
    /// <summary>No new unit starts; those in flight finish.</summary>
    public const string Paused = "paused";
    /// <summary>Every unit is done.</summary>
    public const string Completed = "completed";
    /// <summary>Every unit ended, some of them failed.</summary>
    public const string CompletedWithErrors = "completed_with_errors";
    /// <summary>The import could not run at all (e.g. its source or target is missing).</summary>
    public const string Failed = "failed";
    /// <summary>Cancelled by a user; units in flight were rolled back.</summary>
    public const string Cancelled = "cancelled";

    /// <summary>All states, in life order.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Pending, Running, Paused, Completed, CompletedWithErrors, Failed, Cancelled];

    /// <summary>Whether an import in <paramref name="state"/> will change no more.</summary>
    public static bool IsFinal(string state) =>
        state is Completed or CompletedWithErrors or Failed or Cancelled;
}

/// <summary>
/// The life of a unit: <c>pending</c> → <c>running</c> (claimed, leased) → <c>done</c> | <c>failed</c>,
/// back to <c>pending</c> when an attempt fails and attempts remain, or when its silo hands it back;
/// <c>cancelled</c> with its import.
/// </summary>
public static class UnitState
{
    /// <summary>Waiting for an attempt (possibly not before a backoff time).</summary>
    public const string Pending = "pending";
    /// <summary>Claimed by an attempt on a silo (its fencing token bumped).</summary>
    public const string Running = "running";
    /// <summary>Loaded; its rows and this state committed together.</summary>
    public const string Done = "done";
    /// <summary>Out of attempts, or bad input; its error is kept.</summary>
    public const string Failed = "failed";
    /// <summary>Its import was cancelled.</summary>
    public const string Cancelled = "cancelled";
}
