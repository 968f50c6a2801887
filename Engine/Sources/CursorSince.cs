using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>
/// The lower bound an incremental import of a source read by cursor reads from (its <c>since</c>):
/// the cursor committed under its name less <see cref="CursorSpec.LagSeconds"/>, or
/// <see cref="CursorSpec.Initial"/> when none was committed (or the import is <c>--full</c>). A time
/// (an ISO 8601 string) loses the lag and is written back in its own shape (its separator, its
/// second's fraction, its offset and how it was written: <c>Z</c>, <c>+02:00</c>, <c>+0200</c>, none); a
/// date alone becomes a time. A number loses the lag as a number (epoch seconds, for times held as numbers).
/// </summary>
public static partial class CursorSince
{
    /// <summary>
    /// The bound for an import of <paramref name="spec"/> given what the store holds
    /// (<paramref name="committed"/>); a JSON <c>null</c> when there is none (everything is read).
    /// </summary>
    /// <exception cref="SourceDataException">The committed cursor is a string that is not a time and the lag is not 0 (the import fails at planning, saying so).</exception>
    public static JsonElement From(CursorSpec spec, JsonElement? committed, bool full, string name)
    {
        if (full || committed is not { } cursor || cursor.ValueKind == JsonValueKind.Null)
            return spec.Initial is null ? Null : JsonSerializer.SerializeToElement(spec.Initial);
        if (spec.LagSeconds == 0) return cursor;
        switch (cursor.ValueKind)
        {
            case JsonValueKind.Number:
                if (cursor.TryGetDecimal(out var d)) return JsonSerializer.SerializeToElement(d - (decimal)spec.LagSeconds);
                return JsonSerializer.SerializeToElement(cursor.GetDouble() - spec.LagSeconds);
            case JsonValueKind.String when Minus(cursor.GetString()!, TimeSpan.FromSeconds(spec.LagSeconds)) is { } earlier:
                return JsonSerializer.SerializeToElement(earlier);
            default:
                throw new SourceDataException(
                    $"the cursor committed under '{name}' ({cursor.GetRawText()}) is neither an ISO 8601 time nor a number, so lagSeconds " +
                    $"({spec.LagSeconds:0.###}) cannot be taken off it: set lagSeconds to 0, or clear it with ingest reset {name}", kind: ErrorKind.Import);
        }
    }

    /// <summary>
    /// <paramref name="spec"/> as <c>ingest validate</c> and <c>ingest diff</c> read it (they do not read
    /// the watermark store): an API read by cursor from its initial bound, as a <c>--full</c> import
    /// would; a SQL source whole, without a window: a row whose cursor is NULL is still a row of the
    /// source, which a diff would otherwise count as only in the table.
    /// </summary>
    public static ImportSpec Initially(ImportSpec spec) => spec.Source switch
    {
        { Cursor.TieBreak: not null } => spec with { Source = spec.Source with { Cursor = null } },
        { Cursor: { } cursor, Since: null } => spec with { Source = spec.Source with { Since = From(cursor, null, full: true, spec.Name) } },
        _ => spec,
    };

    /// <summary>The bound as a query parameter's value: a string as it is, a number as written; null for none.</summary>
    public static string? Text(JsonElement? since) => since switch
    {
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Number } n => n.GetRawText(),
        _ => null,
    };

    private static readonly JsonElement Null = JsonDocument.Parse("null").RootElement.Clone();

    // yyyy-MM-dd, then optionally [T or space]HH:mm[:ss[.fraction]], then optionally Z or ±hh[:]mm.
    [GeneratedRegex(@"^(?<date>\d{4}-\d{2}-\d{2})(?:(?<sep>[T ])(?<h>\d{2}):(?<m>\d{2})(?::(?<s>\d{2})(?:(?<dot>[.,])(?<f>\d+))?)?)?(?<zone>Z|z|[+-]\d{2}:?\d{2})?$")]
    private static partial Regex Iso();

    /// <summary><paramref name="time"/> less <paramref name="lag"/>, written as it was; null when it is not a time.</summary>
    public static string? Minus(string time, TimeSpan lag)
    {
        var m = Iso().Match(time);
        if (!m.Success)
            return DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var any)
                ? (any - lag).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", CultureInfo.InvariantCulture)
                : null;
        var zone = m.Groups["zone"].Value;
        var offset = zone is "" or "Z" or "z" ? TimeSpan.Zero
            : (zone[0] == '-' ? -1 : 1) * new TimeSpan(int.Parse(zone[1..3], CultureInfo.InvariantCulture), int.Parse(zone[^2..], CultureInfo.InvariantCulture), 0);
        if (!DateTime.TryParseExact(m.Groups["date"].Value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)) return null;
        var (h, mi, s) = m.Groups["h"].Success
            ? (int.Parse(m.Groups["h"].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups["m"].Value, CultureInfo.InvariantCulture),
               m.Groups["s"].Success ? int.Parse(m.Groups["s"].Value, CultureInfo.InvariantCulture) : 0)
            : (0, 0, 0);
        if (h > 23 || mi > 59 || s > 59) return null;
        var fraction = m.Groups["f"].Value;
        var whole = lag.Ticks % TimeSpan.TicksPerSecond == 0;
        // A whole number of seconds leaves the fraction as written (nanoseconds too); else it is computed in ticks.
        var ticks = whole || fraction.Length == 0 ? 0 : long.Parse(fraction.PadRight(7, '0')[..7], CultureInfo.InvariantCulture);
        var earlier = new DateTimeOffset(date.AddHours(h).AddMinutes(mi).AddSeconds(s).AddTicks(ticks), offset) - lag;

        var text = new System.Text.StringBuilder(earlier.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        var timeOfDay = earlier.TimeOfDay;
        if (m.Groups["h"].Success || timeOfDay != TimeSpan.Zero)
        {
            text.Append(m.Groups["sep"].Success ? m.Groups["sep"].Value : "T").Append(earlier.ToString("HH:mm", CultureInfo.InvariantCulture));
            var digits = whole ? fraction : Digits(earlier, fraction.Length);
            if (m.Groups["s"].Success || earlier.Second != 0 || digits.Length > 0)
                text.Append(earlier.ToString(":ss", CultureInfo.InvariantCulture));
            if (digits.Length > 0) text.Append(m.Groups["dot"].Success ? m.Groups["dot"].Value : ".").Append(digits);
        }
        if (zone is "Z" or "z") text.Append(zone);
        else if (zone.Length > 0)
        {
            var written = earlier.ToString("zzz", CultureInfo.InvariantCulture);
            text.Append(zone.Contains(':') ? written : written.Replace(":", ""));
        }
        return text.ToString();
    }

    // The second's fraction in at least as many digits as written, as many as it needs.
    private static string Digits(DateTimeOffset t, int written)
    {
        var all = t.ToString("fffffff", CultureInfo.InvariantCulture);
        var needed = all.TrimEnd('0').Length;
        return all[..Math.Max(Math.Min(written, 7), needed)];
    }
}
