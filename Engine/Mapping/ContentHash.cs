using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Ingest.Engine.Mapping;

/// <summary>
/// SHA-256 of a record's content, over named fields in a canonical encoding, so that the same
/// content hashes the same whatever the JSON's formatting (whitespace, key order, escapes, <c>1.0</c>
/// against <c>1</c>, a timestamp's offset). Each field, in the order listed, adds a tag and a
/// length-prefixed value:
/// <list type="bullet">
/// <item><c>n</c>: missing or null (so null differs from the empty string);</item>
/// <item><c>s</c>: a string, unescaped UTF-8; an ISO 8601 date is written <c>yyyy-MM-dd</c>, an ISO 8601
/// timestamp as UTC <c>yyyy-MM-ddTHH:mm:ss.fffffffZ</c> (no offset: UTC);</item>
/// <item><c>d</c>: a number, as the shortest decimal without trailing zeros or exponent (<c>1.50</c>, <c>15e-1</c> → <c>1.5</c>);</item>
/// <item><c>t</c> / <c>f</c>: true / false;</item>
/// <item><c>j</c>: an object or array, as JSON with keys sorted (ordinal), no whitespace, and its numbers and strings as above.</item>
/// </list>
/// </summary>
public static class ContentHash
{
    private static readonly string[] TimestampFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd HH:mm:ssK", "yyyy-MM-dd HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF",
    ];

    /// <summary>The hash, lowercase hex, of the values (each a JSON value's bytes, empty when missing).</summary>
    public static string Compute(ReadOnlySpan<byte> element, ReadOnlySpan<ElementSpan> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        foreach (var field in fields)
        {
            if (field.IsMissing) Append(buffer, 'n', []);
            else Encode(buffer, element.Slice(field.Start, field.Length));
        }
        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    private static void Encode(ArrayBufferWriter<byte> buffer, ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                Append(buffer, 's', Encoding.UTF8.GetBytes(CanonicalString(reader.GetString()!)));
                break;
            case JsonTokenType.Number:
                Append(buffer, 'd', Encoding.UTF8.GetBytes(CanonicalNumber(reader.ValueSpan)));
                break;
            case JsonTokenType.True: Append(buffer, 't', []); break;
            case JsonTokenType.False: Append(buffer, 'f', []); break;
            case JsonTokenType.Null: Append(buffer, 'n', []); break;
            default:
                using (var doc = JsonDocument.Parse(json.ToArray()))
                {
                    var canonical = new ArrayBufferWriter<byte>();
                    using (var writer = new Utf8JsonWriter(canonical)) WriteCanonical(writer, doc.RootElement);
                    Append(buffer, 'j', canonical.WrittenSpan);
                }
                break;
        }
    }

    private static void WriteCanonical(Utf8JsonWriter writer, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in value.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(property.Name);
                    WriteCanonical(writer, property.Value);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray()) WriteCanonical(writer, item);
                writer.WriteEndArray();
                break;
            case JsonValueKind.String: writer.WriteStringValue(CanonicalString(value.GetString()!)); break;
            case JsonValueKind.Number: writer.WriteRawValue(CanonicalNumber(Encoding.UTF8.GetBytes(value.GetRawText()))); break;
            default: value.WriteTo(writer); break;
        }
    }

    private static string CanonicalString(string s)
    {
        if (s.Length == 10 && DateOnly.TryParseExact(s, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            return date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        if (s.Length >= 19 && DateTimeOffset.TryParseExact(s, TimestampFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            return at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
        return s;
    }

    private static string CanonicalNumber(ReadOnlySpan<byte> raw)
    {
        if (decimal.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
        {
            // Dividing by 1.000… drops the trailing zeros that the scale keeps (1.50 → 1.5, 1.0 → 1).
            return (d / 1.000000000000000000000000000000000m).ToString(CultureInfo.InvariantCulture);
        }
        return double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture);
    }

    private static void Append(ArrayBufferWriter<byte> buffer, char tag, ReadOnlySpan<byte> value)
    {
        var span = buffer.GetSpan(5 + value.Length);
        span[0] = (byte)tag;
        BinaryPrimitives.WriteInt32LittleEndian(span[1..], value.Length);
        value.CopyTo(span[5..]);
        buffer.Advance(5 + value.Length);
    }
}
