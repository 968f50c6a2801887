using Ingest.Engine.Sources;

namespace Ingest.Catalog;

/// <summary>A unit held under a fencing token (by a claim, or by a batch's mark).</summary>
/// <param name="UnitNo">The unit's number within its import.</param>
/// <param name="Unit">What the unit reads.</param>
/// <param name="Token">The fencing token its completion (and each chunk's commit) must still find.</param>
public sealed record FencedUnit(int UnitNo, UnitDescriptor Unit, long Token)
{
    /// <summary>The file or object the unit loads.</summary>
    public string Key => Unit.Key;
}
