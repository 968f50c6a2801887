namespace Ingest.GrainInterfaces;

/// <summary>
/// Rules every record's row must pass before it lands, and defaults that fill missing values
/// first. Rules name target columns.
/// </summary>
/// <param name="Required">Columns that must have a value (after defaults).</param>
/// <param name="Ranges">Numeric columns with an inclusive minimum and/or maximum.</param>
/// <param name="Patterns">Text columns with a regular expression their value must match.</param>
/// <param name="Allowed">Text columns with the only values they may hold.</param>
/// <param name="MaxLength">Text columns with a maximum length in characters.</param>
/// <param name="Defaults">Values for columns that are missing or null.</param>
/// <param name="OnInvalid">What an invalid record does.</param>
public sealed record ValidateSpec(
    IReadOnlyList<string> Required,
    IReadOnlyDictionary<string, RangeRule> Ranges,
    IReadOnlyDictionary<string, string> Patterns,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Allowed,
    IReadOnlyDictionary<string, int> MaxLength,
    IReadOnlyDictionary<string, DefaultValue> Defaults,
    InvalidAction OnInvalid);

/// <summary>An inclusive range; either bound may be absent.</summary>
public sealed record RangeRule(decimal? Min, decimal? Max);

/// <summary>
/// A default: a constant (<paramref name="Value"/>), the unit's transaction time (<paramref name="Now"/>),
/// or a generated id with a prefix, stable for a given record (<paramref name="GeneratePrefix"/>).
/// </summary>
public sealed record DefaultValue(string? Value, bool Now, string? GeneratePrefix);

/// <summary>What a record that breaks a rule does.</summary>
public enum InvalidAction
{
    /// <summary>It goes to <c>ingest.rejects</c> with every rule it broke; the rest of the unit loads.</summary>
    Reject,

    /// <summary>The unit fails at the first invalid record, and nothing of it is loaded.</summary>
    Fail,
}
