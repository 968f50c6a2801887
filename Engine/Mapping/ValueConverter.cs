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
    private static readonly JsonSerializerOptions QuotedOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Longer strings are not worth decoding on the stack; they are rare for the types that parse them.</summary>
    private const int StackChars = 128;

    /// <summary>
    /// Converts the value that starts with token <paramref name="kind"/>. For a scalar,
    /// <paramref name="token"/> is on it; for an object or array it has moved past it, and only
    /// <paramref name="raw"/> (the value's JSON text) is used. A string converts as its text does
    /// (<see cref="TryConvertText"/>).
    /// </summary>
    public static bool TryConvert(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, ColumnType type, MappedRow row, int column, out string? reason)
    {
        if (kind == JsonTokenType.String && type is not (ColumnType.Text or ColumnType.Jsonb or ColumnType.Bytea))
            return TryConvertText(Unescaped(in token, stackalloc byte[StackChars]), type, row, column, out reason, raw);
        reason = type switch
        {
            ColumnType.Text => Text(ref token, kind, raw, row, column),
            ColumnType.Bigint => Integer(ref token, kind, raw, long.MinValue, long.MaxValue, row, column),
            ColumnType.Int => Integer(ref token, kind, raw, int.MinValue, int.MaxValue, row, column),
            ColumnType.Double => Double(in token, kind, raw, row, column),
            ColumnType.Numeric => Numeric(in token, kind, raw, row, column),
            ColumnType.Boolean => kind is JsonTokenType.True or JsonTokenType.False ? SetBoolean(kind == JsonTokenType.True, row, column) : $"{Show(raw)} {NotABoolean}",
            ColumnType.Date => $"{Show(raw)} {NotADate}",
            ColumnType.Timestamptz => $"{Show(raw)} {NotATimestamptz}",
            ColumnType.Timestamp => $"{Show(raw)} {NotATimestamp}",
            ColumnType.Uuid => $"{Show(raw)} {NotAUuid}",
            ColumnType.Jsonb => Json(raw, row, column),
            ColumnType.Bytea => Bytea(ref token, kind, raw, row, column),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
        };
        return reason is null;
    }

    /// <summary>Whether a column of <paramref name="type"/> is filled from a text (<see cref="TryConvertText"/>).</summary>
    public static bool ReadsText(ColumnType type) => type is not (ColumnType.Jsonb or ColumnType.Bytea);

    /// <summary>
    /// Converts a text (a CSV field's, or a JSON string's unescaped) into a column that
    /// <see cref="ReadsText"/>. A reason shows <paramref name="raw"/>, the value as its record holds
    /// it, or else the text quoted.
    /// </summary>
    public static bool TryConvertText(ReadOnlySpan<byte> text, ColumnType type, MappedRow row, int column, out string? reason, ReadOnlySpan<byte> raw = default)
    {
        reason = type switch
        {
            ColumnType.Text => TextValue(text, row, column),
            ColumnType.Bigint => IntegerText(text, raw, long.MinValue, long.MaxValue, row, column),
            ColumnType.Int => IntegerText(text, raw, int.MinValue, int.MaxValue, row, column),
            ColumnType.Double => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? SetDouble(d, row, column) : $"{Show(raw, text)} {NotANumber}",
            ColumnType.Numeric => decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var m) ? SetDecimal(m, row, column) : $"{Show(raw, text)} {NotANumeric}",
            ColumnType.Boolean => bool.TryParse(Chars(text, stackalloc char[StackChars]), out var b) ? SetBoolean(b, row, column) : $"{Show(raw, text)} {NotABoolean}",
            ColumnType.Date => DateText(text, raw, row, column),
            ColumnType.Timestamptz => TimestampText(text, raw, utc: true, row, column),
            ColumnType.Timestamp => TimestampText(text, raw, utc: false, row, column),
            ColumnType.Uuid => UuidText(text, raw, row, column),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not filled from a text"),
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
        return TryConvertFormatted(token.GetString()!, raw, type, format, row, column, out reason);
    }

    /// <summary>Converts a text (a CSV field's) read with a column's <see cref="ValueFormat"/>, as a JSON string holding it converts.</summary>
    public static bool TryConvertFormattedText(ReadOnlySpan<byte> text, ColumnType type, ValueFormat format, MappedRow row, int column, out string? reason) =>
        TryConvertFormatted(Encoding.UTF8.GetString(text), default, type, format, row, column, out reason);

    // A reason shows raw, or else the text as given, quoted.
    private static bool TryConvertFormatted(string given, ReadOnlySpan<byte> raw, ColumnType type, ValueFormat format, MappedRow row, int column, out string? reason)
    {
        var text = format.Trim ? given.Trim() : given;
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
            else reason = $"{Show(raw, Encoding.UTF8.GetBytes(given))} does not match the format '{pattern}'";
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

    private const string NotAWholeNumber = "is not a whole number";
    private const string NotANumber = "is not a number";
    private const string NotANumeric = "is not a decimal number (or out of range)";
    private const string NotABoolean = "is not a boolean";
    private const string NotADate = "is not a date (expected ISO 8601, e.g. 2013-09-17)";
    private const string NotATimestamptz = "is not a timestamp (expected ISO 8601, e.g. 2013-09-17T10:00:00Z)";
    private const string NotATimestamp = "is not a timestamp (expected ISO 8601, e.g. 2013-09-17T10:00:00)";
    private const string NotAUuid = "is not a uuid";

    private static string? Text(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (kind != JsonTokenType.String)
        {
            // Numbers, booleans, objects and arrays keep their JSON text.
            if (!Utf8.IsValid(raw)) return "value is not valid UTF-8";
            row.SetBytes(column, raw);
            return null;
        }
        if (!token.ValueIsEscaped) return TextValue(token.ValueSpan, row, column);
        var value = row.ReserveBytes(token.ValueSpan.Length);
        var length = token.CopyString(value);
        return CommitText(value[..length], row, column);
    }

    private static string? TextValue(ReadOnlySpan<byte> text, MappedRow row, int column)
    {
        var value = row.ReserveBytes(text.Length);
        text.CopyTo(value);
        return CommitText(value[..text.Length], row, column);
    }

    private static string? CommitText(ReadOnlySpan<byte> value, MappedRow row, int column)
    {
        if (value.Contains((byte)0)) return "text contains a NUL character, which PostgreSQL cannot store";
        if (!Utf8.IsValid(value)) return "text is not valid UTF-8";
        row.CommitBytes(column, value.Length);
        return null;
    }

    private static string? Integer(ref Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, long min, long max, MappedRow row, int column)
    {
        if (kind != JsonTokenType.Number) return $"{Show(raw)} {NotAWholeNumber}";
        if (!token.TryGetInt64(out var l))
        {
            if (!token.TryGetDecimal(out var d) || decimal.Truncate(d) != d || d < min || d > max)
                return $"{Show(raw)} is not a whole number in range";
            l = (long)d;
        }
        return SetInteger(l, min, max, row, column);
    }

    private static string? IntegerText(ReadOnlySpan<byte> text, ReadOnlySpan<byte> raw, long min, long max, MappedRow row, int column) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? SetInteger(l, min, max, row, column) : $"{Show(raw, text)} {NotAWholeNumber}";

    private static string? SetInteger(long l, long min, long max, MappedRow row, int column)
    {
        if (l < min || l > max) return $"{l} is out of range";
        row.SetInteger(column, l);
        return null;
    }

    private static string? Double(in Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column) =>
        kind == JsonTokenType.Number && double.TryParse(token.ValueSpan, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
            ? SetDouble(d, row, column)
            : $"{Show(raw)} {NotANumber}";

    private static string? SetDouble(double d, MappedRow row, int column)
    {
        row.SetDouble(column, d);
        return null;
    }

    private static string? Numeric(in Utf8JsonReader token, JsonTokenType kind, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (kind != JsonTokenType.Number || !decimal.TryParse(token.ValueSpan, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return $"{Show(raw)} {NotANumeric}";
        // A decimal keeps 28 significant digits and would round the rest away silently.
        if (SignificantDigits(token.ValueSpan) > MaxExactDigits)
            return $"{Show(raw)} has more than {MaxExactDigits} significant digits, which a numeric column is not loaded with exactly";
        return SetDecimal(d, row, column);
    }

    private static string? SetDecimal(decimal d, MappedRow row, int column)
    {
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

    private static string? SetBoolean(bool b, MappedRow row, int column)
    {
        row.SetInteger(column, b ? 1 : 0);
        return null;
    }

    private static string? DateText(ReadOnlySpan<byte> text, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (TryParseIsoDate(text, out var date))
        {
            row.SetInteger(column, date.DayNumber);
            return null;
        }
        var s = Chars(text, stackalloc char[StackChars]);
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
        return $"{Show(raw, text)} {NotADate}";
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

    // timestamptz: the instant, in UTC; timestamp: the wall-clock time as written (an offset is
    // ignored, as PostgreSQL's cast to timestamp does).
    private static string? TimestampText(ReadOnlySpan<byte> text, ReadOnlySpan<byte> raw, bool utc, MappedRow row, int column)
    {
        if (!DateTimeOffset.TryParse(Chars(text, stackalloc char[StackChars]), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto))
            return $"{Show(raw, text)} {(utc ? NotATimestamptz : NotATimestamp)}";
        row.SetInteger(column, utc ? dto.UtcTicks : dto.DateTime.Ticks);
        return null;
    }

    private static string? UuidText(ReadOnlySpan<byte> text, ReadOnlySpan<byte> raw, MappedRow row, int column)
    {
        if (!Guid.TryParse(Chars(text, stackalloc char[StackChars]), out var guid)) return $"{Show(raw, text)} {NotAUuid}";
        guid.TryWriteBytes(row.ReserveBytes(16), bigEndian: true, out _);
        row.CommitBytes(column, 16);
        return null;
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

    // The string token's text, unescaped; on the stack when short. Text that does not unescape (bad UTF-8) is empty, which no parse takes.
    private static ReadOnlySpan<byte> Unescaped(in Utf8JsonReader token, Span<byte> scratch)
    {
        if (!token.ValueIsEscaped) return token.ValueSpan;
        try
        {
            return token.ValueSpan.Length <= scratch.Length ? scratch[..token.CopyString(scratch)] : Encoding.UTF8.GetBytes(token.GetString()!);
        }
        catch (InvalidOperationException)
        {
            return default;
        }
    }

    // UTF-8 text as characters; on the stack when short. Invalid UTF-8 gives no characters (so no parse succeeds).
    private static ReadOnlySpan<char> Chars(ReadOnlySpan<byte> text, Span<char> scratch)
    {
        if (text.Length > scratch.Length) scratch = new char[text.Length];
        return Utf8.ToUtf16(text, scratch, out _, out var written, replaceInvalidSequences: false) == System.Buffers.OperationStatus.Done ? scratch[..written] : default;
    }

    private static string Show(ReadOnlySpan<byte> raw, ReadOnlySpan<byte> text) => Show(raw.IsEmpty ? Quoted(text) : raw);

    // A text as a JSON string, as a reason shows a value.
    private static byte[] Quoted(ReadOnlySpan<byte> text) => JsonSerializer.SerializeToUtf8Bytes(Encoding.UTF8.GetString(text), QuotedOptions);

    private static string Show(ReadOnlySpan<byte> raw)
    {
        var text = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, 240)]);
        return text.Length > 60 ? text[..57] + "..." : text;
    }
}
