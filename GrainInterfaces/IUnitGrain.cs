namespace Ingest.GrainInterfaces;

/// <summary>
/// One attempt at one unit (a file or an object), or at a batch of small units, keyed by a dispatch
/// key unique to the attempt, so that every attempt is placed afresh on a live silo. It waits for a
/// free slot of its silo, claims the unit (which counts the attempt and bumps its fencing token),
/// loads it, commits its rows with its completion in one transaction, and reports to its
/// <see cref="IImportGrain"/>. A batch is taken under one token per unit without using an attempt,
/// and commits all its units' rows and completions in one transaction, or none.
/// </summary>
public interface IUnitGrain : IGrainWithStringKey
{
    /// <summary>Starts the attempt in the background and returns at once with the silo it runs on (<c>ip:port@generation</c>).</summary>
    Task<string> StartAsync(UnitAssignment assignment);

    /// <summary>Abandons the attempt: its transaction is rolled back (used by cancel).</summary>
    Task AbandonAsync();
}
