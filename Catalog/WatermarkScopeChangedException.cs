namespace Ingest.Catalog;

/// <summary>
/// A submit refused because the spec's source or target changed since the name's watermark store
/// was written, and the submit said neither to reset the store nor to keep it; nothing was stored.
/// </summary>
public sealed class WatermarkScopeChangedException(string name, IReadOnlyList<string> changes)
    : Exception($"the source or target of '{name}' changed since its incremental state was written: {string.Join("; ", changes)}")
{
    public string Name { get; } = name;

    /// <summary>What changed, one field each (<see cref="WatermarkScope.Differences"/>).</summary>
    public IReadOnlyList<string> Changes { get; } = changes;
}
