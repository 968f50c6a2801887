namespace Ingest.GrainInterfaces;

/// <summary>
/// One import, keyed by its id in <c>ingest.imports</c>. It plans the import into units, hands each
/// unit (or batch of small units) to a <see cref="IUnitGrain"/> on whichever silo placement picks, at most the import's
/// parallelism at a time, and hears back from them. Its lifecycle and progress are durable in
/// PostgreSQL, so any activation, on any silo, after any crash, carries on where the last one was.
/// </summary>
public interface IImportGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Activates the import and brings it up to date: plans it if it is pending, hands out its
    /// units if it is running. Idempotent; called after a submit, at silo start and as a backstop.
    /// </summary>
    Task WakeAsync();

    /// <summary>
    /// Silos were declared dead: the units they were loading are handed out again (their
    /// attempts were counted at start; their rows never committed).
    /// </summary>
    /// <param name="silos">The lost silos, as <c>ip:port@generation</c>.</param>
    Task SilosLostAsync(string[] silos);

    /// <summary>No new unit starts; units in flight finish.</summary>
    Task<ChangeResult> PauseAsync();

    /// <summary>Units start again (or planning does, if it was paused before planning).</summary>
    Task<ChangeResult> ResumeAsync();

    /// <summary>The import ends <c>cancelled</c>; units in flight are rolled back.</summary>
    Task<ChangeResult> CancelAsync();

    /// <summary>An import that ended with failed units (or failed at planning) runs them again (plans again).</summary>
    Task<ChangeResult> RetryAsync();

    /// <summary>A unit grain reports how its attempt ended: one report per unit it was handed.</summary>
    Task UnitsEndedAsync(UnitReport[] reports);
}
