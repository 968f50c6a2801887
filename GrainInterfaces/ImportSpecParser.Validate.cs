using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ingest.GrainInterfaces;

// target.validate: rules on the target's columns, defaults, and what an invalid record does.
public static partial class ImportSpecParser
{
    private static ValidateSpec? ReadValidate(JsonNode? node, IReadOnlyDictionary<string, ColumnType> columns, List<string> p)
    {
        const string where = "target.validate";
        if (node is null) return null;
        if (node is not JsonObject v) { p.Add($"{where}: must be an object of rules"); return null; }

        var required = ReadNames(v["required"], where + ".required", p);
        foreach (var c in required) Column(c, where + ".required", null);

        var ranges = new Dictionary<string, RangeRule>(StringComparer.Ordinal);
        foreach (var (c, rule) in Entries(v["ranges"], where + ".ranges"))
        {
            var at = $"{where}.ranges.{c}";
            if (!Column(c, at, t => t is ColumnType.Int or ColumnType.Bigint or ColumnType.Double or ColumnType.Numeric, "a number")) continue;
            if (rule is not JsonObject r) { p.Add($"{at}: must be an object with min and/or max"); continue; }
            var range = new RangeRule(Bound(r, "min", at), Bound(r, "max", at));
            if (range is { Min: null, Max: null }) p.Add($"{at}: needs min or max");
            else if (range.Min > range.Max) p.Add($"{at}: min is above max");
            Unknown(r, at, p, "min", "max");
            ranges[c] = range;
        }

        var patterns = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (c, pattern) in Entries(v["patterns"], where + ".patterns"))
        {
            var at = $"{where}.patterns.{c}";
            if (!Column(c, at, t => t == ColumnType.Text, "text")) continue;
            if (pattern is not JsonValue pv || !pv.TryGetValue(out string? text)) { p.Add($"{at}: must be a regular expression"); continue; }
            try { _ = new Regex(text, RegexOptions.None, TimeSpan.FromSeconds(1)); patterns[c] = text; }
            catch (ArgumentException e) { p.Add($"{at}: '{text}' is not a valid regular expression ({e.Message})"); }
        }

        var allowed = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (c, list) in Entries(v["allowed"], where + ".allowed"))
        {
            var at = $"{where}.allowed.{c}";
            if (!Column(c, at, t => t == ColumnType.Text, "text")) continue;
            var values = ReadNames(list, at, p);
            if (values.Count == 0) p.Add($"{at}: must list at least one value");
            allowed[c] = values;
        }

        var maxLength = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (c, n) in Entries(v["maxLength"], where + ".maxLength"))
        {
            var at = $"{where}.maxLength.{c}";
            if (!Column(c, at, t => t == ColumnType.Text, "text")) continue;
            if (n is JsonValue nv && nv.TryGetValue(out int length) && length > 0) maxLength[c] = length;
            else p.Add($"{at}: must be a positive whole number");
        }

        var defaults = new Dictionary<string, DefaultValue>(StringComparer.Ordinal);
        foreach (var (c, d) in Entries(v["defaults"], where + ".defaults"))
        {
            var at = $"{where}.defaults.{c}";
            if (!Column(c, at, null)) continue;
            switch (d)
            {
                case JsonValue dv when dv.TryGetValue(out string? text) && text == "now()":
                    if (columns[c] is not (ColumnType.Timestamptz or ColumnType.Date)) p.Add($"{at}: now() needs a timestamptz or date column");
                    defaults[c] = new DefaultValue(null, true, null);
                    break;
                case JsonValue dv:
                    defaults[c] = new DefaultValue(dv.TryGetValue(out string? constant) ? constant : dv.ToJsonString(), false, null);
                    break;
                case JsonObject g when g["generate"] is JsonValue gv && gv.TryGetValue(out string? prefix):
                    if (columns[c] != ColumnType.Text) p.Add($"{at}: generate needs a text column");
                    Unknown(g, at, p, "generate");
                    defaults[c] = new DefaultValue(null, false, prefix);
                    break;
                default:
                    p.Add($"{at}: must be a constant, \"now()\" or {{\"generate\": \"PREFIX\"}}");
                    break;
            }
        }

        var onInvalid = OptionalString(v, "onInvalid", where + ".onInvalid", p) switch
        {
            null or "reject" => InvalidAction.Reject,
            "fail" => InvalidAction.Fail,
            var other => Problem(p, $"{where}.onInvalid: '{other}' is not 'reject' or 'fail'", InvalidAction.Reject),
        };
        Unknown(v, where, p, "required", "ranges", "patterns", "allowed", "maxLength", "defaults", "onInvalid");
        return new ValidateSpec(required, ranges, patterns, allowed, maxLength, defaults, onInvalid);

        bool Column(string name, string at, Func<ColumnType, bool>? fits, string? kind = null)
        {
            if (!columns.TryGetValue(name, out var type)) { p.Add($"{at}: '{name}' is not one of the target's columns"); return false; }
            if (fits is not null && !fits(type)) { p.Add($"{at}: '{name}' is {type.ToSpecName()}; this rule needs {kind}"); return false; }
            return true;
        }

        IEnumerable<(string Column, JsonNode? Rule)> Entries(JsonNode? rules, string at)
        {
            if (rules is null) return [];
            if (rules is JsonObject o) return o.Select(kv => (kv.Key, kv.Value));
            p.Add($"{at}: must be an object keyed by column");
            return [];
        }

        decimal? Bound(JsonObject r, string name, string at) => r[name] switch
        {
            null => null,
            JsonValue b when b.TryGetValue(out decimal d) => d,
            _ => Problem<decimal?>(p, $"{at}.{name}: must be a number", null),
        };
    }
}
