using System.Globalization;
using System.Numerics;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// A key's values in their canonical text (stored in a unit's <see cref="KeyRange"/> and its
/// checkpoint), as numbers on a line (to cut equal widths), and as SQL literals. A literal is always
/// written from a parsed value, never from stored text, so nothing but a value reaches the SQL.
/// </summary>
public static class KeyValues
{
    private const string DateFormat = "yyyy-MM-dd";
    private const string TimestampFormat = "yyyy-MM-dd HH:mm:ss.ffffff";

    /// <summary>A value as a driver returns it (any integer type, decimal, DateOnly, DateTime, MySqlDateTime's DateTime) in canonical text.</summary>
    public static string Canonical(KeyKind kind, object value) => kind switch
    {
        KeyKind.Integer or KeyKind.Numeric => Convert.ToDecimal(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
        KeyKind.Date => (value is DateOnly d ? d : DateOnly.FromDateTime((DateTime)value)).ToString(DateFormat, CultureInfo.InvariantCulture),
        KeyKind.Timestamp or KeyKind.TimestampTz => ((DateTime)value).ToString(TimestampFormat, CultureInfo.InvariantCulture),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>A value's canonical text as JSON: a number for integers and numerics, else a string (fixed width, so it orders as text).</summary>
    public static void WriteJson(System.Text.Json.Utf8JsonWriter writer, KeyKind kind, string canonical)
    {
        if (kind is KeyKind.Integer or KeyKind.Numeric) writer.WriteRawValue(canonical, skipInputValidation: true);
        else writer.WriteStringValue(canonical);
    }

    /// <summary>The value on a number line: the integer, the decimal, the day number, microseconds.</summary>
    public static BigInteger Scaled(KeyKind kind, string value, int scale) => kind switch
    {
        KeyKind.Integer => BigInteger.Parse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
        KeyKind.Numeric => new BigInteger(decimal.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture) * Pow10(scale)),
        KeyKind.Date => DateOnly.ParseExact(value, DateFormat, CultureInfo.InvariantCulture).DayNumber,
        _ => DateTime.ParseExact(value, TimestampFormat, CultureInfo.InvariantCulture).Ticks / TimeSpan.TicksPerMicrosecond,
    };

    /// <summary>The canonical text of a point of the number line <see cref="Scaled"/> gives.</summary>
    public static string Unscaled(KeyKind kind, BigInteger point, int scale) => kind switch
    {
        KeyKind.Integer => point.ToString(CultureInfo.InvariantCulture),
        KeyKind.Numeric => ((decimal)point / Pow10(scale)).ToString(CultureInfo.InvariantCulture),
        KeyKind.Date => DateOnly.FromDayNumber((int)point).ToString(DateFormat, CultureInfo.InvariantCulture),
        _ => new DateTime((long)point * TimeSpan.TicksPerMicrosecond).ToString(TimestampFormat, CultureInfo.InvariantCulture),
    };

    /// <summary>The decimal places a numeric key's points keep: those of its bounds.</summary>
    public static int Scale(KeyKind kind, params string[] values) =>
        kind != KeyKind.Numeric ? 0 : values.Max(v => v.IndexOf('.') is var dot and >= 0 ? v.Length - dot - 1 : 0);

    /// <summary>The value as a SQL literal that PostgreSQL, MySQL and MariaDB all read.</summary>
    /// <exception cref="SourceDataException">The text is not a value of the kind (a checkpoint written by something else).</exception>
    public static string Literal(KeyKind kind, string value)
    {
        try
        {
            return kind switch
            {
                KeyKind.Integer => BigInteger.Parse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
                KeyKind.Numeric => decimal.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
                KeyKind.Date => $"DATE '{DateOnly.ParseExact(value, DateFormat, CultureInfo.InvariantCulture).ToString(DateFormat, CultureInfo.InvariantCulture)}'",
                KeyKind.Timestamp => $"TIMESTAMP '{Timestamp(value)}'",
                _ => $"TIMESTAMPTZ '{Timestamp(value)}+00'",
            };
        }
        catch (FormatException)
        {
            throw new SourceDataException($"'{value}' is not a {kind.ToString().ToLowerInvariant()} key value");
        }
    }

    private static string Timestamp(string value) =>
        DateTime.ParseExact(value, TimestampFormat, CultureInfo.InvariantCulture).ToString(TimestampFormat, CultureInfo.InvariantCulture);

    private static decimal Pow10(int scale)
    {
        var p = 1m;
        for (var i = 0; i < scale; i++) p *= 10;
        return p;
    }
}
