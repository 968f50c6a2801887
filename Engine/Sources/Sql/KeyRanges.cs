using System.Numerics;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// Cuts a key's span into ranges: equal widths between its minimum and maximum, or at given
/// boundaries (its quantiles). Each range holds its first key and not the next range's; the last
/// holds the maximum. Ranges that would be empty by construction (more ranges than distinct points)
/// are not made.
/// </summary>
public static class KeyRanges
{
    /// <summary><paramref name="count"/> ranges of equal width from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static IReadOnlyList<KeyRange> EqualWidth(string column, KeyKind kind, string min, string max, int count)
    {
        var scale = KeyValues.Scale(kind, min, max);
        var (lo, hi) = (KeyValues.Scaled(kind, min, scale), KeyValues.Scaled(kind, max, scale));
        var bounds = new List<BigInteger>(count);
        for (var i = 0; i < count; i++)
        {
            // Floor of lo + (hi - lo + 1) * i / count: integer points, each range at least one point wide.
            var bound = lo + (hi - lo + 1) * i / count;
            if (bounds.Count == 0 || bound > bounds[^1]) bounds.Add(bound);
        }
        return AtBounds(column, kind, [.. bounds.Select(b => KeyValues.Unscaled(kind, b, scale))], max);
    }

    /// <summary>Ranges starting at each of <paramref name="starts"/> (ascending, the first the minimum), the last ending at <paramref name="max"/>.</summary>
    public static IReadOnlyList<KeyRange> AtBounds(string column, KeyKind kind, IReadOnlyList<string> starts, string max)
    {
        var ranges = new List<KeyRange>(starts.Count);
        for (var i = 0; i < starts.Count; i++)
        {
            var last = i == starts.Count - 1;
            ranges.Add(new KeyRange(column, kind, starts[i], last ? max : starts[i + 1], last));
        }
        return ranges;
    }

    /// <summary>How many ranges hold about <paramref name="rowsPerRange"/> rows each.</summary>
    public static int For(long rows, long rowsPerRange) => (int)Math.Clamp((rows + rowsPerRange - 1) / rowsPerRange, 1, 100_000);
}
