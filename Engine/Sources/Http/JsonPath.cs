using System.Globalization;
using System.Text.Json;

namespace Ingest.Engine.Sources.Http;

/// <summary>A dotted path (<c>meta.next</c>; numeric segments index arrays) into a response's JSON.</summary>
public static class JsonPath
{
    /// <summary>The element at <paramref name="path"/>; false when a segment is missing.</summary>
    public static bool TryGet(JsonElement root, string path, out JsonElement found)
    {
        found = root;
        foreach (var segment in path.Split('.'))
        {
            if (found.ValueKind == JsonValueKind.Object && found.TryGetProperty(segment, out var next)) found = next;
            else if (found.ValueKind == JsonValueKind.Array && int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < found.GetArrayLength()) found = found[i];
            else return false;
        }
        return true;
    }

    /// <summary>A whole number at <paramref name="path"/> (a number, or a string of one); null when missing or null.</summary>
    public static long? Number(JsonElement root, string path) =>
        TryGet(root, path, out var e) ? e.ValueKind switch
        {
            JsonValueKind.Number when e.TryGetInt64(out var n) => n,
            JsonValueKind.Number => (long)e.GetDouble(),
            JsonValueKind.String when long.TryParse(e.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
            _ => null,
        } : null;

    /// <summary>A string (or a number, as written) at <paramref name="path"/>; null when missing, null or empty.</summary>
    public static string? Text(JsonElement root, string path) =>
        TryGet(root, path, out var e) ? e.ValueKind switch
        {
            JsonValueKind.String => e.GetString() is { Length: > 0 } s ? s : null,
            JsonValueKind.Number => e.GetRawText(),
            _ => null,
        } : null;

    /// <summary>A boolean at <paramref name="path"/>; null when missing.</summary>
    public static bool? Flag(JsonElement root, string path) =>
        TryGet(root, path, out var e) && e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean() : null;
}
