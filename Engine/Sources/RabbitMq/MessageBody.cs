using System.Text.Json;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// A message body's records: a JSON object is one record, an array holds one per element, NDJSON
/// (values one after another) one per value; with <c>source.records</c>, each object's array at that
/// path. A body that is not JSON has none, and a problem: it is rejected whole, its raw text kept.
/// </summary>
public sealed class MessageBody
{
    private static readonly JsonReaderOptions Reading = new() { AllowMultipleValues = true, CommentHandling = JsonCommentHandling.Skip };

    private MessageBody(List<ReadOnlyMemory<byte>> records, string? problem)
    {
        Records = records;
        Problem = problem;
    }

    public IReadOnlyList<ReadOnlyMemory<byte>> Records { get; }

    /// <summary>Why the body cannot be read; null when it can.</summary>
    public string? Problem { get; }

    public static MessageBody Parse(byte[] body, string[]? recordsPath)
    {
        var records = new List<ReadOnlyMemory<byte>>();
        try
        {
            var reader = new Utf8JsonReader(body, Reading);
            while (reader.Read())
            {
                var start = (int)reader.TokenStartIndex;
                if (recordsPath is not null)
                {
                    if (reader.TokenType != JsonTokenType.StartObject) return new([], $"the body holds a {reader.TokenType}, not an object with '{string.Join('.', recordsPath)}'");
                    reader.Skip();
                    if (AtPath(body.AsMemory(start, (int)reader.BytesConsumed - start), recordsPath) is not { } array)
                        return new([], $"the body has no array at '{string.Join('.', recordsPath)}' (source.records)");
                    records.AddRange(array);
                    continue;
                }
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        var element = (int)reader.TokenStartIndex;
                        reader.Skip();
                        records.Add(body.AsMemory(element, (int)reader.BytesConsumed - element));
                    }
                    continue;
                }
                reader.Skip();
                records.Add(body.AsMemory(start, (int)reader.BytesConsumed - start));
            }
        }
        catch (JsonException e)
        {
            return new([], $"the body is not JSON ({e.Message})");
        }
        return records.Count == 0 ? new([], "the body is empty") : new(records, null);
    }

    // The elements of the array at the path in one object, as slices of the body; null when there is none.
    private static List<ReadOnlyMemory<byte>>? AtPath(ReadOnlyMemory<byte> value, string[] path)
    {
        using var document = JsonDocument.Parse(value);
        var element = document.RootElement;
        foreach (var segment in path)
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(segment, out element)) return null;
        if (element.ValueKind != JsonValueKind.Array) return null;
        var records = new List<ReadOnlyMemory<byte>>(element.GetArrayLength());
        foreach (var item in element.EnumerateArray()) records.Add(JsonSerializer.SerializeToUtf8Bytes(item));
        return records;
    }

    /// <summary>The value at <paramref name="path"/> in a record, as text (a string's value, a number as written); null when absent or not a scalar.</summary>
    public static string? ValueAt(ReadOnlyMemory<byte> record, string[] path)
    {
        try
        {
            using var document = JsonDocument.Parse(record);
            var element = document.RootElement;
            foreach (var segment in path)
                if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(segment, out element)) return null;
            return element.ValueKind switch
            {
                JsonValueKind.String => element.GetString(),
                JsonValueKind.Number => element.GetRawText(),
                _ => null,
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
