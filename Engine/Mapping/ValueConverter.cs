using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Mapping;

/// <summary>
/// Converts one JSON value, read in place from the record's bytes, into a column of a
/// <see cref="MappedRow"/>: no string or box is allocated for the values that convert.
/// </summary>
internal static class ValueConverter
{
    private static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyy-M-d", "yyyyMMdd"];

    /// <summary>Longer strings are not worth decoding on the stack; they are rare for the types that parse them.</summary>
    private const int StackChars = 128;

    /// <summary>
    /// Converts the value that starts with token <paramref name="kind"/>. For a scalar,
    /// <paramref name="token"/> is on it; for an object or array it has moved past it, and only
    /// <paramref name="raw"/> (the value's JSON text) is used.
    /// </summary>
    public static bool TryConvert(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, ColumnType type, MappedRow row, int column, out string? reason)
    {
        reason = type switch
        {
            ColumnType.Text => Text(ref token, kind, raw, row, column),
            ColumnType.Bigint => Integer(ref token, kind, raw, long.MinValue, long.MaxValue, row, column),
            ColumnType.Int => Integer(ref token, kind, raw, int.MinValue, int.MaxValue, row, column),
            ColumnType.Double => Double(ref token, kind, raw, row, column),
            ColumnType.Numeric => Numeric(ref token, kind, raw, row, column),
            ColumnType.Boolean => Boolean(ref token, kind, raw, row, column),
            ColumnType.Date => Date(ref token, kind, raw, row, column),
            ColumnType.Timestamptz => Timestamp(ref token, kind, raw, row, column),
            ColumnType.Jsonb => Json(raw, row, column),
            ColumnType.Uuid => Uuid(ref token, kind, raw, row, column),
            ColumnType.Bytea => Bytea(ref token, kind, raw, row, column),
            ColumnType.Timestamp => LocalTimestamp(ref token, kind, raw, row, column),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
        };
        return reason is null;
    }

    /// <summary>
    /// Converts a value read with a column's <see cref="ValueFormat"/>: a string is trimmed, checked
    /// against the null markers, then parsed with the date format or decimal separator; other values
    /// convert as usual.
    /// </summary>
    public static bool TryConvertFormatted(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, ColumnType type, ValueFormat format,
        MappedRow row, int column, out string? reason)
    {
        if (kind != JsonTokenType.String) return TryConvert(ref token, kind, raw, type, row, column, out reason);
        var text = token.GetString()!;
        if (format.Trim) text = text.Trim();
        reason = null;
        if (format.NullIf?.Contains(text) == true)
        {
            row.SetNull(column);
            return true;
        }
        if (format.Pattern is { } pattern)
        {
            if (type == ColumnType.Date && DateOnly.TryParseExact(text, pattern, CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
                row.SetInteger(column, date.DayNumber);
            else if (type == ColumnType.Timestamptz && DateTimeOffset.TryParseExact(text, pattern, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
                row.SetInteger(column, at.UtcTicks);
            else if (type == ColumnType.Timestamp && DateTime.TryParseExact(text, pattern, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
                row.SetInteger(column, local.Ticks);
            else reason = $"{Show(raw)} does not match the format '{pattern}'";
            return reason is null;
        }
        // With another decimal separator, '.' and spaces group thousands: "1.234,5" → 1234.5.
        if (format.DecimalSeparator is { } separator && separator != ".")
            text = text.Replace(".", "").Replace(" ", "").Replace(separator, ".");
        return TryConvertJson(JsonSerializer.SerializeToUtf8Bytes(text), type, row, column, out reason);
    }

    /// <summary>Converts a standalone JSON value (a constant, a map's key, a unit's metadata).</summary>
    public static bool TryConvertJson(ReadOnlySpan<byte> json, ColumnType type, MappedRow row, int column, out string? reason)
    {
        var token = new Utf8JsonReader(json);
        token.Read();
        if (token.TokenType == JsonTokenType.Null)
        {
            row.SetNull(column);
            reason = null;
            return true;
        }
        var kind = token.TokenType;
        if (kind is JsonTokenType.StartObject or JsonTokenType.StartArray) token.Skip();
        return TryConvert(ref token, kind, json, type, row, column, out reason);
    }

    private static string? Text(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (kind != JsonTokenType.String)
        {
            // Numbers, booleans, objects and arrays keep their JSON text.
            if (!Utf8.IsValid(raw)) return "value is not valid UTF-8";
            row.SetBytes(column, raw);
            return null;
        }
        var value = row.ReserveBytes(token.ValueSpan.Length);
        var length = token.ValueIsEscaped ? token.CopyString(value) : Copy(token.ValueSpan, value);
        value = value[..length];
        if (value.Contains((byte)0)) return "text contains a NUL character, which PostgreSQL cannot store";
        if (!Utf8.IsValid(value)) return "text is not valid UTF-8";
        row.CommitBytes(column, length);
        return null;
    }

    private static int Copy(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        source.CopyTo(destination);
        return source.Length;
    }

    private static string? Integer(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, long min, long max, MappedRow row, int column)
    {
        long l;
        if (kind == JsonTokenType.Number)
        {
            if (!token.TryGetInt64(out l))
            {
                if (!token.TryGetDecimal(out var d) || decimal.Truncate(d) != d || d < min || d > max)
                    return $"{Show(raw)} is not a whole number in range";
                l = (long)d;
            }
        }
        else if (kind != JsonTokenType.String || !TryParseNumber(in token, kind, NumberStyles.Integer, out l))
        {
            return $"{Show(raw)} is not a whole number";
        }
        if (l < min || l > max) return $"{l} is out of range";
        row.SetInteger(column, l);
        return null;
    }

    private static string? Double(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (!TryParseNumber<double>(in token, kind, NumberStyles.Float, out var d) || !double.IsFinite(d)) return $"{Show(raw)} is not a number";
        row.SetDouble(column, d);
        return null;
    }

    private static string? Numeric(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (!TryParseNumber<decimal>(in token, kind, NumberStyles.Float, out var d)) return $"{Show(raw)} is not a decimal number (or out of range)";
        // A decimal keeps 28 significant digits and would round the rest away silently.
        if (kind == JsonTokenType.Number && SignificantDigits(token.ValueSpan) > MaxExactDigits)
            return $"{Show(raw)} has more than {MaxExactDigits} significant digits, which a numeric column is not loaded with exactly";
        row.SetDecimal(column, d);
        return null;
    }

    private const int MaxExactDigits = 28;

    // The digits of a JSON number without exponent from its first non-zero one to its last non-zero one after the point.
    private static int SignificantDigits(ReadOnlySpan<byte> number)
    {
        if (number.IndexOfAny((byte)'e', (byte)'E') >= 0 || number.Length <= MaxExactDigits) return 0;
        var start = number.IndexOfAnyInRange((byte)'1', (byte)'9');
        if (start < 0) return 0;
        var digits = number[start..];
        if (digits.IndexOf((byte)'.') >= 0) digits = digits.TrimEnd((byte)'0');
        var count = 0;
        foreach (var b in digits) if (b is >= (byte)'0' and <= (byte)'9') count++;
        return count;
    }

    // A JSON number, or a string holding one.
    private static bool TryParseNumber<T>(in Utf8JsonReader token, JsonTokenType kind, NumberStyles style, out T value) where T : INumberBase<T>
    {
        if (kind == JsonTokenType.Number) return T.TryParse(token.ValueSpan, style, CultureInfo.InvariantCulture, out value!);
        if (kind == JsonTokenType.String) return T.TryParse(Chars(in token, stackalloc char[StackChars]), style, CultureInfo.InvariantCulture, out value!);
        value = T.Zero;
        return false;
    }

    private static string? Boolean(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        bool b;
        switch (kind)
        {
            case JsonTokenType.True: b = true; break;
            case JsonTokenType.False: b = false; break;
            case JsonTokenType.String when bool.TryParse(Chars(in token, stackalloc char[StackChars]), out b): break;
            default: return $"{Show(raw)} is not a boolean";
        }
        row.SetInteger(column, b ? 1 : 0);
        return null;
    }

    private static string? Date(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (kind == JsonTokenType.String)
        {
            if (!token.ValueIsEscaped && TryParseIsoDate(token.ValueSpan, out var date))
            {
                row.SetInteger(column, date.DayNumber);
                return null;
            }
            var s = Chars(in token, stackalloc char[StackChars]);
            if (DateOnly.TryParseExact(s, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out date))
            {
                row.SetInteger(column, date.DayNumber);
                return null;
            }
            if (DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto))
            {
                row.SetInteger(column, DateOnly.FromDateTime(dto.UtcDateTime).DayNumber);
                return null;
            }
        }
        return $"{Show(raw)} is not a date (expected ISO 8601, e.g. 2013-09-17)";
    }

    // yyyy-MM-dd, the form nearly every API uses: parsed without decoding to chars.
    private static bool TryParseIsoDate(ReadOnlySpan<byte> s, out DateOnly date)
    {
        date = default;
        if (s.Length != 10 || s[4] != '-' || s[7] != '-') return false;
        if (!TryDigits(s[..4], out var year) || !TryDigits(s[5..7], out var month) || !TryDigits(s[8..], out var day)) return false;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)) return false;
        date = new DateOnly(year, month, day);
        return true;
    }

    private static bool TryDigits(ReadOnlySpan<byte> s, out int value)
    {
        value = 0;
        foreach (var b in s)
        {
            if (b is < (byte)'0' or > (byte)'9') return false;
            value = value * 10 + (b - '0');
        }
        return true;
    }

    private static string? Timestamp(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (kind == JsonTokenType.String &&
            DateTimeOffset.TryParse(Chars(in token, stackalloc char[StackChars]), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto))
        {
            row.SetInteger(column, dto.UtcTicks);
            return null;
        }
        return $"{Show(raw)} is not a timestamp (expected ISO 8601, e.g. 2013-09-17T10:00:00Z)";
    }

    // The wall-clock time as written; an offset is ignored, as PostgreSQL's cast to timestamp does.
    private static string? LocalTimestamp(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (kind == JsonTokenType.String &&
            DateTimeOffset.TryParse(Chars(in token, stackalloc char[StackChars]), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto))
        {
            row.SetInteger(column, dto.DateTime.Ticks);
            return null;
        }
        return $"{Show(raw)} is not a timestamp (expected ISO 8601, e.g. 2013-09-17T10:00:00)";
    }

    private static string? Uuid(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (kind == JsonTokenType.String && Guid.TryParse(Chars(in token, stackalloc char[StackChars]), out var guid))
        {
            guid.TryWriteBytes(row.ReserveBytes(16), bigEndian: true, out _);
            row.CommitBytes(column, 16);
            return null;
        }
        return $"{Show(raw)} is not a uuid";
    }

    // Base64, as JSON carries bytes; or PostgreSQL's own text form, \x and hex digits.
    private static string? Bytea(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (kind != JsonTokenType.String) return $"{Show(raw)} is not bytes (expected a base64 string)";
        var text = token.GetString()!;
        if (text.StartsWith("\\x", StringComparison.Ordinal))
        {
            var hex = text.AsSpan(2);
            if (hex.Length % 2 == 0 && Convert.FromHexString(hex, row.ReserveBytes(hex.Length / 2), out _, out var written) == System.Buffers.OperationStatus.Done)
            {
                row.CommitBytes(column, written);
                return null;
            }
            return $"{Show(raw)} is not bytes (odd or bad hex digits after \\x)";
        }
        var target = row.ReserveBytes(text.Length * 3 / 4 + 3);
        if (!Convert.TryFromBase64String(text, target, out var length)) return $"{Show(raw)} is not bytes (expected base64, or \\x and hex digits)";
        row.CommitBytes(column, length);
        return null;
    }

    private static string? Json(ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (raw.IndexOf("\\u0000"u8) >= 0) return "JSON contains \\u0000, which PostgreSQL jsonb cannot store";
        if (!Utf8.IsValid(raw)) return "JSON is not valid UTF-8";
        row.SetBytes(column, raw);
        return null;
    }

    // The string token's text, unescaped; on the stack when short. Invalid UTF-8 gives no characters (so no parse succeeds).
    private static ReadOnlySpan<char> Chars(in Utf8JsonReader token, Span<char> scratch)
    {
        try
        {
            return token.ValueSpan.Length <= scratch.Length ? scratch[..token.CopyString(scratch)] : token.GetString();
        }
        catch (InvalidOperationException)
        {
            return default;
        }
    }

    private static string Show(ReadOnlySpan<byte> raw)
    {
        var text = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, 240)]);
        return text.Length > 60 ? text[..57] + "..." : text;
    }
}
