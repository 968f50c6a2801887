namespace Ingest.GrainInterfaces;

/// <summary>A spec that cannot be accepted. <see cref="Problems"/> names every problem found, not just the first.</summary>
public sealed class SpecException(IReadOnlyList<string> problems)
    : Exception("invalid import spec:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
{
    /// <summary>Each problem, naming the field it is about.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}
