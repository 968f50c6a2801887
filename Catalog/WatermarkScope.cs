using System.Text.Json;
using System.Text.Json.Nodes;
using Ingest.GrainInterfaces;

namespace Ingest.Catalog;

/// <summary>
/// What of a spec the watermark store's entries depend on: where the files are and how their
/// records map to rows, as JSON. How the import runs (<c>incremental</c>, <c>chunkRows</c>, <c>splitBytes</c>,
/// <c>create</c>, <c>foreignKeys</c>, parallelism, retries) is left out: changing it keeps the entries valid.
/// For an HTTP source, what the cursor is a cursor of: the request (<c>url</c>, <c>query</c>,
/// <c>method</c>, <c>body</c>), <c>records</c> and the <c>cursorPath</c>, each a field of its own;
/// headers, pagination, timeouts, retries, the rate limit, authentication and the cursor's
/// <c>param</c>, <c>initial</c> and <c>lagSeconds</c> are how it is read, left out. For a SQL source,
/// the table or query (with the rest of <c>sql</c>), the cursor column (as <c>cursorPath</c>) and its
/// <c>tieBreak</c>; <c>lagSeconds</c> is left out.
/// </summary>
public static class WatermarkScope
{
    /// <summary>The spec's source as the store records it.</summary>
    public static string Source(ImportSpec spec)
    {
        var source = JsonSerializer.SerializeToNode(spec.Source, ImportSpecJson.Options)!.AsObject();
        if (spec.Source is { Http: { } http })
        {
            source["url"] = http.Url;
            source["query"] = JsonSerializer.SerializeToNode(http.Query, ImportSpecJson.Options);
            source["method"] = http.Method;
            source["body"] = http.Body;
        }
        if (spec.Source.Cursor is { } cursor)
        {
            source["cursorPath"] = cursor.Path;
            if (cursor.TieBreak is { } tieBreak) source["tieBreak"] = tieBreak;
        }
        return Without(source, "incremental", "chunkRows", "splitBytes", "http", "cursor");
    }

    /// <summary>The spec's target as the store records it: <c>"*"</c> as written, not the columns planning found for it.</summary>
    public static string Target(ImportSpec spec) =>
        Without(JsonSerializer.SerializeToNode(spec.Target, ImportSpecJson.Options), spec.Target.AllColumns ? ["create", "foreignKeys", "columns"] : ["create", "foreignKeys"]);

    private static string Without(JsonNode? node, params string[] fields)
    {
        var o = node!.AsObject();
        foreach (var field in fields) o.Remove(field);
        return o.ToJsonString(ImportSpecJson.Options);
    }

    /// <summary>
    /// How <paramref name="spec"/> differs from the source and target the entries were written under,
    /// one line per field (<c>source.path: "/data/a" → "/data/b"</c>, <c>target.columns: changed</c>);
    /// empty when it does not. A side that was not recorded is not compared.
    /// </summary>
    public static IReadOnlyList<string> Differences(string? recordedSource, string? recordedTarget, ImportSpec spec) =>
    [
        .. Differences("source", recordedSource, Source(spec)),
        .. Differences("target", recordedTarget, Target(spec)),
    ];

    private static IEnumerable<string> Differences(string side, string? recorded, string now)
    {
        if (recorded is null || JsonNode.Parse(recorded) is not JsonObject before || JsonNode.Parse(now) is not JsonObject after) yield break;
        foreach (var field in before.Select(p => p.Key).Union(after.Select(p => p.Key)).Order(StringComparer.Ordinal))
        {
            var (was, @is) = (before[field], after[field]);
            if (JsonNode.DeepEquals(was, @is)) continue;
            yield return was is JsonObject or JsonArray || @is is JsonObject or JsonArray
                ? $"{side}.{field}: changed"
                : $"{side}.{field}: {Text(was)} → {Text(@is)}";
        }
    }

    private static string Text(JsonNode? value) => value?.ToJsonString() ?? "none";
}
