using Ingest.Engine;
using Ingest.Engine.Sources;

namespace Ingest.Catalog;

/// <summary>
/// One attempt's hold on a unit. <see cref="Token"/> fences it: every claim of the unit bumps the
/// token, and the unit's completion (or chunk, failure, hand-back) commits only while the token is
/// still this one, so an older attempt that wakes up late commits nothing.
/// </summary>
/// <param name="ImportId">The unit's import.</param>
/// <param name="UnitNo">The unit's number within the import.</param>
/// <param name="Unit">What the unit reads.</param>
/// <param name="Attempt">Which attempt this is (1-based; counted at claim).</param>
/// <param name="MaxAttempts">The import's attempt limit.</param>
/// <param name="Token">The fencing token of this claim.</param>
/// <param name="Checkpoint">How far earlier attempts committed; null when nothing is.</param>
/// <param name="Committed">What the committed chunks did (counts, bytes, tables, quality); zero when nothing is.</param>
public sealed record UnitClaim(long ImportId, int UnitNo, UnitDescriptor Unit, int Attempt, int MaxAttempts, long Token, UnitCheckpoint? Checkpoint, UnitLoadResult Committed)
{
    /// <summary>The file or object the unit loads.</summary>
    public string Key => Unit.Key;

    /// <summary>The unit under this claim's token.</summary>
    public FencedUnit Fenced => new(UnitNo, Unit, Token);
}
