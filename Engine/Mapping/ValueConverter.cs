using System.Globalization;
using System.Text.Json;
using Ingest.Contracts;

namespace Ingest.Engine.Mapping;

/// <summary>Converts one JSON value to the CLR value Npgsql writes for a column type.</summary>
public static class ValueConverter
{
    private static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyy-M-d", "yyyyMMdd"];

    /// <summary>Converts <paramref name="value"/>, or returns the reason it does not convert.</summary>
    public static bool TryConvert(JsonElement value, ColumnType type, out object? result, out string? reason)
    {
        reason = null;
        result = type switch
        {
            ColumnType.Text => Text(value, ref reason),
            ColumnType.Bigint => Integer(value, long.MinValue, long.MaxValue, ref reason),
            ColumnType.Int => Integer(value, int.MinValue, int.MaxValue, ref reason) is long l ? (int)l : null,
            ColumnType.Double => Double(value, ref reason),
            ColumnType.Numeric => Numeric(value, ref reason),
            ColumnType.Boolean => Boolean(value, ref reason),
            ColumnType.Date => Date(value, ref reason),
            ColumnType.Timestamptz => Timestamp(value, ref reason),
            ColumnType.Jsonb => Json(value, ref reason),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
        };
        return reason is null;
    }

    private static object? Text(JsonElement v, ref string? reason)
    {
        var s = v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText();
        if (s.Contains('\0')) reason = "text contains a NUL character, which PostgreSQL cannot store";
        return s;
    }

    private static object? Integer(JsonElement v, long min, long max, ref string? reason)
    {
        long l;
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (!v.TryGetInt64(out l))
            {
                if (v.TryGetDecimal(out var d) && decimal.Truncate(d) == d && d >= min && d <= max) return (long)d;
                reason = $"{v.GetRawText()} is not a whole number in range";
                return null;
            }
        }
        else if (v.ValueKind != JsonValueKind.String || !long.TryParse(v.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out l))
        {
            reason = $"{Show(v)} is not a whole number";
            return null;
        }
        if (l < min || l > max) { reason = $"{l} is out of range"; return null; }
        return l;
    }

    private static object? Double(JsonElement v, ref string? reason)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d)) return d;
        if (v.ValueKind == JsonValueKind.String && double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
        reason = $"{Show(v)} is not a number";
        return null;
    }

    private static object? Numeric(JsonElement v, ref string? reason)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDecimal(out var d)) return d;
        if (v.ValueKind == JsonValueKind.String && decimal.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
        reason = $"{Show(v)} is not a decimal number (or out of range)";
        return null;
    }

    private static object? Boolean(JsonElement v, ref string? reason)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.String when bool.TryParse(v.GetString(), out var b): return b;
            default: reason = $"{Show(v)} is not a boolean"; return null;
        }
    }

    private static object? Date(JsonElement v, ref string? reason)
    {
        if (v.ValueKind == JsonValueKind.String)
        {
            var s = v.GetString()!;
            if (DateOnly.TryParseExact(s, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)) return date;
            if (DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto)) return DateOnly.FromDateTime(dto.UtcDateTime);
        }
        reason = $"{Show(v)} is not a date (expected ISO 8601, e.g. 2013-09-17)";
        return null;
    }

    private static object? Timestamp(JsonElement v, ref string? reason)
    {
        if (v.ValueKind == JsonValueKind.String &&
            DateTimeOffset.TryParse(v.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto))
            return dto.UtcDateTime;
        reason = $"{Show(v)} is not a timestamp (expected ISO 8601, e.g. 2013-09-17T10:00:00Z)";
        return null;
    }

    private static object? Json(JsonElement v, ref string? reason)
    {
        var raw = v.GetRawText();
        if (raw.Contains("\\u0000", StringComparison.Ordinal)) reason = "JSON contains \\u0000, which PostgreSQL jsonb cannot store";
        return raw;
    }

    private static string Show(JsonElement v)
    {
        var raw = v.GetRawText();
        return raw.Length > 60 ? raw[..57] + "..." : raw;
    }
}
