using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Quality;

/// <summary>
/// Fills defaults into a mapped row, then checks it against the spec's rules, noting every rule
/// it breaks. Counts go to a <see cref="QualityTally"/>, one per unit.
/// </summary>
public sealed class RowValidator
{
    private readonly (int Column, string Name)[] _required;
    private readonly (int Column, string Name, RangeRule Range)[] _ranges;
    private readonly (int Column, string Name, Regex Pattern)[] _patterns;
    private readonly (int Column, string Name, HashSet<string> Values)[] _allowed;
    private readonly (int Column, string Name, int Max)[] _maxLength;
    private readonly (int Column, string Name, DefaultValue Default, byte[]? Json)[] _defaults;
    private readonly ColumnType[] _types;

    public RowValidator(ValidateSpec spec, IReadOnlyList<ColumnSpec> columns)
    {
        OnInvalid = spec.OnInvalid;
        _types = columns.Select(c => c.Type).ToArray();
        int At(string name) => columns.Select((c, i) => (c, i)).First(x => x.c.Name == name).i;
        _required = spec.Required.Select(c => (At(c), c)).ToArray();
        _ranges = spec.Ranges.Select(kv => (At(kv.Key), kv.Key, kv.Value)).ToArray();
        _patterns = spec.Patterns.Select(kv => (At(kv.Key), kv.Key, new Regex(kv.Value, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))).ToArray();
        _allowed = spec.Allowed.Select(kv => (At(kv.Key), kv.Key, kv.Value.ToHashSet(StringComparer.Ordinal))).ToArray();
        _maxLength = spec.MaxLength.Select(kv => (At(kv.Key), kv.Key, kv.Value)).ToArray();
        _defaults = spec.Defaults.Select(kv => (At(kv.Key), kv.Key, kv.Value,
            kv.Value.Value is { } constant ? JsonSerializer.SerializeToUtf8Bytes(constant) : null)).ToArray();
    }

    public InvalidAction OnInvalid { get; }

    /// <summary>Whether <see cref="Check"/> reads the record itself (a generated id hashes it); otherwise only the row.</summary>
    public bool ReadsRecord => _defaults.Any(d => d.Json is null && !d.Default.Now);

    /// <summary>
    /// Fills defaults, then checks the rules. False, with every broken rule named, when the record
    /// is invalid. <paramref name="now"/> is the unit's transaction time (what <c>now()</c> gives).
    /// </summary>
    public bool Check(MappedRow row, ReadOnlySpan<byte> record, DateTime now, QualityTally tally, out RecordReject? reject, List<RuleViolation>? violations = null)
    {
        var broken = new List<(string Rule, string Column, string Why)>(0);
        foreach (var (column, name, value, json) in _defaults)
        {
            if (!row.IsNull(column)) continue;
            if (json is not null)
            {
                if (!ValueConverter.TryConvertJson(json, _types[column], row, column, out var why))
                    broken.Add(("default", name, $"default '{value.Value}': {why}"));
            }
            else if (value.Now)
                row.SetInteger(column, _types[column] == ColumnType.Date ? DateOnly.FromDateTime(now).DayNumber : now.Ticks);
            else
            {
                // Stable for a given record: a re-load generates the same id.
                var hash = ContentHash.Compute(record, [new ElementSpan(0, record.Length, JsonTokenType.StartObject)]);
                row.SetBytes(column, Encoding.UTF8.GetBytes(value.GeneratePrefix + hash[..16]));
            }
            tally.Filled(name);
        }

        foreach (var (column, name) in _required)
            if (row.IsNull(column)) broken.Add(("required", name, "has no value"));
        foreach (var (column, name, range) in _ranges)
        {
            if (row.IsNull(column)) continue;
            var value = Number(row, column);
            if (value < range.Min || value > range.Max)
                broken.Add(("range", name, $"{value} is outside [{range.Min?.ToString() ?? "-∞"}, {range.Max?.ToString() ?? "∞"}]"));
        }
        foreach (var (column, name, pattern) in _patterns)
            if (!row.IsNull(column) && !pattern.IsMatch(Text(row, column))) broken.Add(("pattern", name, $"'{Text(row, column)}' does not match {pattern}"));
        foreach (var (column, name, values) in _allowed)
            if (!row.IsNull(column) && !values.Contains(Text(row, column))) broken.Add(("allowed", name, $"'{Text(row, column)}' is not one of {string.Join(", ", values)}"));
        foreach (var (column, name, max) in _maxLength)
            if (!row.IsNull(column) && Text(row, column).Length > max) broken.Add(("maxLength", name, $"is {Text(row, column).Length} characters long, more than {max}"));

        if (broken.Count == 0)
        {
            reject = null;
            return true;
        }
        foreach (var (rule, column, why) in broken)
        {
            tally.Violated($"{rule}.{column}");
            violations?.Add(new RuleViolation(rule, column, why));
        }
        reject = new RecordReject(broken[0].Column, string.Join("; ", broken.Select(b => $"{b.Rule} '{b.Column}': {b.Why}")));
        return false;
    }

    private decimal Number(MappedRow row, int column) => _types[column] switch
    {
        ColumnType.Double => (decimal)Math.Clamp(row.GetDouble(column), (double)decimal.MinValue, (double)decimal.MaxValue),
        ColumnType.Numeric => row.GetDecimal(column),
        _ => row.GetInt64(column),
    };

    private static string Text(MappedRow row, int column) => Encoding.UTF8.GetString(row.GetBytes(column).Span);
}
