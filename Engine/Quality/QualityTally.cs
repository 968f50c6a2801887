namespace Ingest.Engine.Quality;

/// <summary>A unit's rule violations (by <c>rule.column</c>) and filled defaults (by column).</summary>
public sealed class QualityTally
{
    public Dictionary<string, long> Violations { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, long> DefaultsFilled { get; } = new(StringComparer.Ordinal);

    public bool IsEmpty => Violations.Count == 0 && DefaultsFilled.Count == 0;

    public void Violated(string rule) => Violations[rule] = Violations.GetValueOrDefault(rule) + 1;

    public void Filled(string column) => DefaultsFilled[column] = DefaultsFilled.GetValueOrDefault(column) + 1;

    /// <summary>Adds another tally's counts to this one.</summary>
    public void Add(QualityTally? other)
    {
        if (other is null) return;
        foreach (var (rule, n) in other.Violations) Violations[rule] = Violations.GetValueOrDefault(rule) + n;
        foreach (var (column, n) in other.DefaultsFilled) DefaultsFilled[column] = DefaultsFilled.GetValueOrDefault(column) + n;
    }
}
