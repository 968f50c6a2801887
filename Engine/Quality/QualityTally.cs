namespace Ingest.Engine.Quality;

/// <summary>A unit's rule violations (by <c>rule.column</c>) and filled defaults (by column).</summary>
public sealed class QualityTally
{
    public Dictionary<string, long> Violations { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, long> DefaultsFilled { get; } = new(StringComparer.Ordinal);

    public bool IsEmpty => Violations.Count == 0 && DefaultsFilled.Count == 0;

    public void Violated(string rule) => Violations[rule] = Violations.GetValueOrDefault(rule) + 1;

    public void Filled(string column) => DefaultsFilled[column] = DefaultsFilled.GetValueOrDefault(column) + 1;
}
