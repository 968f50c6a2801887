namespace Ingest.GrainInterfaces;

/// <summary>What an import grain hands a unit grain: one unit, or a batch of small ones.</summary>
/// <param name="ImportId">The import.</param>
/// <param name="Units">The units' numbers within the import, ascending. More than one: a batch, loaded
/// in one transaction that commits all of them or none (each completion fenced by its own token).</param>
/// <param name="TraceParent">The import's W3C trace context, so the unit's spans join the import's trace.</param>
/// <param name="Priority">The import's priority: a silo's free slot goes to the waiting attempt with the highest.</param>
[GenerateSerializer, Immutable, Alias("ingest.UnitAssignment")]
public sealed record UnitAssignment(
    [property: Id(0)] long ImportId,
    [property: Id(1)] int[] Units,
    [property: Id(2)] string? TraceParent,
    [property: Id(3)] int Priority = 0);
