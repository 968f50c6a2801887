namespace Ingest.GrainInterfaces;

/// <summary>What an import grain hands a unit grain.</summary>
/// <param name="ImportId">The import.</param>
/// <param name="UnitNo">The unit's number within the import.</param>
/// <param name="TraceParent">The import's W3C trace context, so the unit's spans join the import's trace.</param>
[GenerateSerializer, Immutable, Alias("ingest.UnitAssignment")]
public sealed record UnitAssignment(
    [property: Id(0)] long ImportId,
    [property: Id(1)] int UnitNo,
    [property: Id(2)] string? TraceParent);
