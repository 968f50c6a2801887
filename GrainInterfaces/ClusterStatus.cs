namespace Ingest.GrainInterfaces;

/// <summary>A silo as Orleans' membership table knows it.</summary>
/// <param name="Address">Its address, <c>ip:port@generation</c> (the generation is new at every start).</param>
/// <param name="Name">Its name (<c>INGEST_SILO_NAME</c>, default <c>silo</c>, followed by its process id).</param>
/// <param name="Host">The host it runs on.</param>
/// <param name="Pid">Its process id.</param>
/// <param name="Status"><c>joining</c>, <c>active</c>, <c>shutting down</c> or <c>dead</c>.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="IAmAliveAt">When it last wrote that it is alive.</param>
/// <param name="UnitsInFlight">Units it has claimed and not ended.</param>
public sealed record SiloInfo(
    string Address, string Name, string Host, int? Pid, string Status,
    DateTimeOffset StartedAt, DateTimeOffset IAmAliveAt, int UnitsInFlight);

/// <summary>One line of <c>ingest list</c>.</summary>
public sealed record ImportSummary(
    long Id, string Name, ImportState State, int UnitsTotal, int UnitsDone, int UnitsFailed,
    DateTimeOffset SubmittedAt, DateTimeOffset? FinishedAt);

/// <summary>The whole cluster at a glance: <c>ingest status</c> without an id.</summary>
/// <param name="LiveSilos">Silos that are joining, active or shutting down.</param>
/// <param name="ImportsByState">How many imports are in each state (states with none are left out).</param>
public sealed record ClusterStatus(IReadOnlyList<SiloInfo> LiveSilos, IReadOnlyDictionary<ImportState, int> ImportsByState);
