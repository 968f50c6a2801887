namespace Ingest.Grains;

/// <summary>
/// What an import grain keeps in Orleans' grain storage (the <c>imports</c> provider) besides the
/// catalog rows: how often planning has been tried, so the bound on planning attempts holds across
/// reactivations.
/// </summary>
[GenerateSerializer, Alias("ingest.ImportGrainState")]
public sealed class ImportGrainState
{
    /// <summary>Planning attempts that failed with an error worth retrying.</summary>
    [Id(0)] public int PlanAttempts { get; set; }
}
