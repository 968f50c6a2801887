namespace Ingest.Grains;

/// <summary>A unit held under a fencing token (by a claim, or by a batch's mark).</summary>
/// <param name="UnitNo">The unit's number within its import.</param>
/// <param name="Key">The file or object the unit loads.</param>
/// <param name="Token">The fencing token its completion must still find.</param>
public sealed record FencedUnit(int UnitNo, string Key, long Token);
