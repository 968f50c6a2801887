using System.Globalization;

namespace Ingest.Client;

/// <summary>A span given on the command line as a number and a unit: <c>30d</c>, <c>12h</c>, <c>45m</c>, <c>90s</c>.</summary>
public static class RelativeDuration
{
    /// <summary>The span <paramref name="text"/> names; false when it is not a whole number and one of d, h, m, s.</summary>
    public static bool TryParse(string text, out TimeSpan span)
    {
        span = default;
        text = text.Trim();
        if (text.Length < 2 || !long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return false;
        TimeSpan? unit = text[^1] switch { 'd' => TimeSpan.FromDays(1), 'h' => TimeSpan.FromHours(1), 'm' => TimeSpan.FromMinutes(1), 's' => TimeSpan.FromSeconds(1), _ => null };
        if (unit is null || n > 100_000) return false;
        span = unit.Value * n;
        return true;
    }
}
