using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Ingest.Engine.Sources;

/// <summary>
/// The greatest cursor among the records a load read, for an incremental import of a source read
/// by cursor: each record's raw JSON is searched for the value at each dotted path (numeric
/// segments index arrays), and the greatest value seen is kept. Values compare as PostgreSQL's
/// jsonb compares them, which the unit rows and the watermark store keep them as: numbers by value,
/// any number above any string; strings as text, here ordinally (jsonb uses the database's
/// collation: both order ISO 8601 times written in one format and offset by time). A record whose value is missing, null, a boolean, an object or an array is
/// left out. With several paths (a key read in pairs) the cursor is an array of their values,
/// compared value by value; a record lacking any of them is left out.
/// </summary>
public sealed class RecordCursor
{
    private readonly string[][] _paths;
    private Value[]? _greatest;

    /// <param name="paths">One dotted path, or several for a cursor of several values.</param>
    public RecordCursor(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0) throw new ArgumentException("a cursor needs a path", nameof(paths));
        _paths = [.. paths.Select(p => p.Split('.'))];
    }

    /// <summary>
    /// A cursor reading <paramref name="spec"/>'s path; null when there is no spec (no cursor is kept).
    /// With a tie-break (a SQL source) it reads the pair its reader computes for each row, a JSON array
    /// <c>[cursor, tieBreak]</c> (<see cref="Formats.IRecordReader.Cursor"/>), so the greatest is a pair.
    /// </summary>
    public static RecordCursor? For(GrainInterfaces.CursorSpec? spec) =>
        spec is null ? null : spec.TieBreak is null ? new RecordCursor([spec.Path]) : new RecordCursor(["0", "1"]);

    /// <summary>The greatest cursor seen so far (a JSON value; an array of them for several paths); null when no record had one.</summary>
    public JsonElement? Greatest => _greatest is null ? null : ToJson(_greatest);

    /// <summary>Looks at one record's raw JSON (malformed or not an object: left out).</summary>
    public void Observe(ReadOnlySpan<byte> record)
    {
        var values = new Value[_paths.Length];
        for (var i = 0; i < _paths.Length; i++)
        {
            try
            {
                if (Find(record, _paths[i]) is not { } value) return;
                values[i] = value;
            }
            catch (JsonException)
            {
                return;
            }
        }
        if (_greatest is null || Compare(values, _greatest) > 0) _greatest = values;
    }

    /// <summary>The greater of two cursors as this type writes them (either may be null).</summary>
    public static JsonElement? Max(JsonElement? a, JsonElement? b)
    {
        if (a is not { } x) return b;
        if (b is not { } y) return a;
        var (vx, vy) = (Values(x), Values(y));
        if (vx is null) return b;
        if (vy is null) return a;
        return Compare(vy, vx) > 0 ? b : a;
    }

    // A cursor's values back from its JSON: one value, or an array of them.
    private static Value[]? Values(JsonElement cursor)
    {
        if (cursor.ValueKind != JsonValueKind.Array) return Value.Of(cursor) is { } one ? [one] : null;
        var values = new List<Value>();
        foreach (var item in cursor.EnumerateArray())
            if (Value.Of(item) is { } v) values.Add(v);
            else return null;
        return [.. values];
    }

    private static int Compare(Value[] a, Value[] b)
    {
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
            if (a[i].CompareTo(b[i]) is var c and not 0) return c;
        return a.Length.CompareTo(b.Length);
    }

    private static JsonElement ToJson(Value[] values)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            if (values.Length > 1) writer.WriteStartArray();
            foreach (var value in values) value.Write(writer);
            if (values.Length > 1) writer.WriteEndArray();
        }
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    // The value at path in the record, read with one forward pass; null when absent or of a kind not kept.
    private static Value? Find(ReadOnlySpan<byte> json, string[] path)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read()) return null;
        foreach (var segment in path)
        {
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                var found = false;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var match = reader.ValueTextEquals(segment);
                    reader.Read();
                    if (match)
                    {
                        found = true;
                        break;
                    }
                    reader.Skip();
                }
                if (!found) return null;
            }
            else if (reader.TokenType == JsonTokenType.StartArray && int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                var found = false;
                for (var i = 0; reader.Read() && reader.TokenType != JsonTokenType.EndArray; i++)
                {
                    if (i == index)
                    {
                        found = true;
                        break;
                    }
                    reader.Skip();
                }
                if (!found) return null;
            }
            else return null;
        }
        return reader.TokenType switch
        {
            JsonTokenType.Number => Value.OfNumber(reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan.ToArray()),
            JsonTokenType.String => new Value(reader.GetString()!, null, default),
            _ => null,
        };
    }

    // One value of a cursor: a string, or a number (by value: a decimal when it fits, else a double; written as it was).
    private readonly record struct Value(string? Text, byte[]? NumberText, decimal Number, double Double = 0, bool IsDouble = false)
    {
        public static Value OfNumber(byte[] text)
        {
            var s = Encoding.UTF8.GetString(text);
            return decimal.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                ? new Value(null, text, d)
                : new Value(null, text, 0, double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture), IsDouble: true);
        }

        public static Value? Of(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Number => OfNumber(Encoding.UTF8.GetBytes(e.GetRawText())),
            JsonValueKind.String => new Value(e.GetString()!, null, default),
            _ => null,
        };

        // As jsonb orders them: a number above any string.
        public int CompareTo(Value other)
        {
            if (Text is not null || other.Text is not null)
                return Text is null ? 1 : other.Text is null ? -1 : string.CompareOrdinal(Text, other.Text) switch { < 0 => -1, > 0 => 1, _ => 0 };
            if (!IsDouble && !other.IsDouble) return Number.CompareTo(other.Number);
            return (IsDouble ? Double : (double)Number).CompareTo(other.IsDouble ? other.Double : (double)other.Number);
        }

        public void Write(Utf8JsonWriter writer)
        {
            if (Text is not null) writer.WriteStringValue(Text);
            else writer.WriteRawValue(NumberText!, skipInputValidation: true);
        }
    }
}
