namespace Ingest.Contracts;

/// <summary>A node as the cluster knows it.</summary>
/// <param name="Id">The node's id (new at every start).</param>
/// <param name="Host">The host it runs on.</param>
/// <param name="Pid">Its process id.</param>
/// <param name="Slots">How many units it runs at once.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="HeartbeatAt">Its last heartbeat.</param>
/// <param name="Live">Whether its heartbeat is recent enough for its leases to hold.</param>
/// <param name="UnitsInFlight">Units it holds a lease on.</param>
public sealed record NodeInfo(
    Guid Id, string Host, int Pid, int Slots,
    DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt, bool Live, int UnitsInFlight);

/// <summary>One line of <c>ingest list</c>.</summary>
public sealed record ImportSummary(
    long Id, string Name, string State, int UnitsTotal, int UnitsDone, int UnitsFailed,
    DateTimeOffset SubmittedAt, DateTimeOffset? FinishedAt);

/// <summary>The whole cluster at a glance: <c>ingest status</c> without an id.</summary>
/// <param name="LiveNodes">Nodes with a recent heartbeat.</param>
/// <param name="ImportsByState">How many imports are in each state (states with none are left out).</param>
public sealed record ClusterStatus(IReadOnlyList<NodeInfo> LiveNodes, IReadOnlyDictionary<string, int> ImportsByState);
