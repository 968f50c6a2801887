using System.Text.Json.Nodes;

namespace Ingest.GrainInterfaces;

// source for kind "http": the request, its pagination, retries, rate limit and authentication.
public static partial class ImportSpecParser
{
    private static readonly string[] HttpFields =
        ["kind", "url", "query", "headers", "method", "body", "records", "paginate", "timeoutSeconds", "retry", "rateLimit", "auth", "incremental"];

    private static readonly UnitMeta[] HttpMeta = [UnitMeta.Url, UnitMeta.Page, UnitMeta.FetchedAt, UnitMeta.Status];

    private static HttpSpec? ReadHttp(JsonObject s, List<string> p)
    {
        var url = RequiredString(s, "url", "source.url", p);
        if (url is not null && !IsHttpUrl(url)) p.Add($"source.url: '{url}' is not an absolute http or https URL");
        var query = ReadStringMap(s["query"], "source.query", p);
        var headers = ReadStringMap(s["headers"], "source.headers", p);
        var method = (OptionalString(s, "method", "source.method", p) ?? "GET").ToUpperInvariant();
        if (method is not ("GET" or "POST")) p.Add($"source.method: '{method}' (expected GET or POST)");
        string? body = null;
        if (s["body"] is { } b)
        {
            if (method != "POST") p.Add("source.body: only with method POST");
            body = b is JsonValue v && v.TryGetValue(out string? text) ? text : b.ToJsonString();
        }
        var timeout = OptionalDouble(s, "timeoutSeconds", "source.timeoutSeconds", HttpSpec.DefaultTimeoutSeconds, p);
        if (timeout <= 0) p.Add("source.timeoutSeconds: must be more than 0");
        var paginate = ReadPaginate(s["paginate"], p);
        var retry = ReadHttpRetry(s["retry"], p);
        var rateLimit = ReadRateLimit(s["rateLimit"], p);
        var auth = ReadAuth(s["auth"], p);
        Unknown(s, "source", p, HttpFields);
        return url is null ? null : new HttpSpec(url, query, headers, method, body, paginate, timeout, retry, rateLimit, auth);
    }

    // source.incremental of an HTTP source: the cursor in the records and the query parameter that sends it back.
    private static CursorSpec? ReadHttpCursor(JsonNode? node, HttpSpec? http, List<string> p)
    {
        const string where = "source.incremental";
        if (node is null) return null;
        if (node is not JsonObject o)
        {
            p.Add($"{where}: for an HTTP source, an object with cursorPath, param, initial and lagSeconds " +
                  "(like { \"cursorPath\": \"updated_at\", \"param\": \"updated_since\" }; true is for files)");
            return null;
        }
        var path = RequiredString(o, "cursorPath", where + ".cursorPath", p);
        if (path is not null && !IsDottedPath(path)) p.Add($"{where}.cursorPath: '{path}' is not a dotted path like 'updated_at' or 'meta.modified'");
        var param = RequiredString(o, "param", where + ".param", p);
        if (param is not null && http?.Query?.ContainsKey(param) == true) p.Add($"{where}.param: '{param}' is also in source.query (the import sends it itself)");
        string? initial = o["initial"] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? text) => text.Length > 0 ? text : Problem<string?>(p, $"{where}.initial: must not be empty", null),
            JsonValue v when v.TryGetValue(out double _) => v.ToJsonString(),
            _ => Problem<string?>(p, $"{where}.initial: must be a string (an ISO 8601 time) or a number", null),
        };
        var lag = OptionalDouble(o, "lagSeconds", where + ".lagSeconds", 0, p);
        if (lag < 0 || double.IsInfinity(lag)) p.Add($"{where}.lagSeconds: must not be negative");
        Unknown(o, where, p, "cursorPath", "param", "initial", "lagSeconds");
        return path is null || param is null ? null : new CursorSpec(path, param, initial, lag);
    }

    private static bool IsHttpUrl(string url) =>
        // A placeholder may stand for the base (checked when it is resolved) or the host (checked as a name).
        url.StartsWith("${", StringComparison.Ordinal)
        || (Uri.TryCreate(url.Replace("${", "x").Replace("}", "x"), UriKind.Absolute, out var u) && u.Scheme is "http" or "https");

    private static Dictionary<string, string>? ReadStringMap(JsonNode? node, string where, List<string> p)
    {
        if (node is null) return null;
        if (node is not JsonObject o) { p.Add($"{where}: must be an object of names and string values"); return null; }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in o)
        {
            if (value is JsonValue v && v.TryGetValue(out string? text)) map[name] = text;
            else if (value is JsonValue n && (n.TryGetValue(out double _) || n.TryGetValue(out bool _))) map[name] = n.ToJsonString();
            else p.Add($"{where}.{name}: must be a string");
        }
        return map;
    }

    private static PaginateSpec? ReadPaginate(JsonNode? node, List<string> p)
    {
        const string where = "source.paginate";
        if (node is null) return null;
        if (node is not JsonObject o) { p.Add($"{where}: must be an object with type page, offset, next or cursor"); return null; }
        var typeText = RequiredString(o, "type", where + ".type", p);
        PaginationType? type = typeText switch
        {
            "page" => PaginationType.Page,
            "offset" => PaginationType.Offset,
            "next" => PaginationType.Next,
            "cursor" => PaginationType.Cursor,
            _ => null,
        };
        if (typeText is not null && type is null) p.Add($"{where}.type: unknown pagination '{typeText}' (expected page, offset, next or cursor)");
        string? Path(string name)
        {
            var path = OptionalString(o, name, $"{where}.{name}", p);
            if (path is not null && !IsDottedPath(path)) p.Add($"{where}.{name}: '{path}' is not a dotted path like 'total_pages' or 'meta.next'");
            return path;
        }
        var maxPages = o.ContainsKey("maxPages") ? OptionalInt(o, "maxPages", where + ".maxPages", 0, p) : (int?)null;
        if (maxPages is < 1) p.Add($"{where}.maxPages: must be at least 1");
        var spec = new PaginateSpec(type ?? PaginationType.Page, MaxPages: maxPages);
        switch (type)
        {
            case PaginationType.Page:
                spec = spec with
                {
                    Param = OptionalString(o, "param", where + ".param", p) ?? "page",
                    First = OptionalInt(o, "first", where + ".first", 1, p),
                    TotalPagesPath = Path("totalPagesPath"),
                    HasMorePath = Path("hasMorePath"),
                };
                Unknown(o, where, p, "type", "param", "first", "totalPagesPath", "hasMorePath", "maxPages");
                break;
            case PaginationType.Offset:
                spec = spec with
                {
                    OffsetParam = OptionalString(o, "offsetParam", where + ".offsetParam", p) ?? "offset",
                    LimitParam = OptionalString(o, "limitParam", where + ".limitParam", p) ?? "limit",
                    Limit = OptionalInt(o, "limit", where + ".limit", 100, p),
                    TotalPath = Path("totalPath"),
                    HasMorePath = Path("hasMorePath"),
                };
                if (spec.Limit < 1) p.Add($"{where}.limit: must be at least 1");
                Unknown(o, where, p, "type", "offsetParam", "limitParam", "limit", "totalPath", "hasMorePath", "maxPages");
                break;
            case PaginationType.Next:
                spec = spec with { NextPath = Path("nextPath"), Header = OptionalString(o, "header", where + ".header", p) };
                if (spec.Header is not null && spec.Header != "link") p.Add($"{where}.header: '{spec.Header}' (expected \"link\": the Link header's rel=\"next\")");
                if ((spec.NextPath is null) == (spec.Header is null)) p.Add($"{where}: next needs exactly one of nextPath (a URL in the body) or header: \"link\"");
                Unknown(o, where, p, "type", "nextPath", "header", "maxPages");
                break;
            case PaginationType.Cursor:
                spec = spec with { CursorPath = Path("cursorPath"), CursorParam = OptionalString(o, "cursorParam", where + ".cursorParam", p) ?? "cursor" };
                if (!o.ContainsKey("cursorPath")) p.Add($"{where}.cursorPath: required for cursor pagination");
                Unknown(o, where, p, "type", "cursorPath", "cursorParam", "maxPages");
                break;
        }
        return type is null ? null : spec;
    }

    private static HttpRetrySpec? ReadHttpRetry(JsonNode? node, List<string> p)
    {
        const string where = "source.retry";
        if (node is null) return null;
        if (node is not JsonObject o) { p.Add($"{where}: must be an object with attempts, backoffSeconds and maxDelaySeconds"); return null; }
        var d = HttpRetrySpec.Default;
        var retry = new HttpRetrySpec(
            OptionalInt(o, "attempts", where + ".attempts", d.Attempts, p),
            OptionalDouble(o, "backoffSeconds", where + ".backoffSeconds", d.BackoffSeconds, p),
            OptionalDouble(o, "maxDelaySeconds", where + ".maxDelaySeconds", d.MaxDelaySeconds, p));
        if (retry.Attempts < 1) p.Add($"{where}.attempts: must be at least 1");
        if (retry.BackoffSeconds < 0) p.Add($"{where}.backoffSeconds: must not be negative");
        if (retry.MaxDelaySeconds <= 0) p.Add($"{where}.maxDelaySeconds: must be more than 0");
        Unknown(o, where, p, "attempts", "backoffSeconds", "maxDelaySeconds");
        return retry;
    }

    private static RateLimitSpec? ReadRateLimit(JsonNode? node, List<string> p)
    {
        const string where = "source.rateLimit";
        if (node is null) return null;
        if (node is not JsonObject o) { p.Add($"{where}: must be an object with key, requests and perSeconds"); return null; }
        var key = RequiredString(o, "key", where + ".key", p);
        var requests = OptionalInt(o, "requests", where + ".requests", 0, p);
        var per = OptionalDouble(o, "perSeconds", where + ".perSeconds", 1, p);
        if (requests < 1) p.Add($"{where}.requests: required, at least 1");
        if (per <= 0) p.Add($"{where}.perSeconds: must be more than 0");
        Unknown(o, where, p, "key", "requests", "perSeconds");
        return key is null ? null : new RateLimitSpec(key, requests, per);
    }

    private static OAuth2Spec? ReadAuth(JsonNode? node, List<string> p)
    {
        const string where = "source.auth";
        if (node is null) return null;
        if (node is not JsonObject o) { p.Add($"{where}: must be an object with type oauth2-client-credentials, tokenUrl, clientId and clientSecret"); return null; }
        var type = RequiredString(o, "type", where + ".type", p);
        if (type is not null && type != "oauth2-client-credentials") p.Add($"{where}.type: '{type}' (expected oauth2-client-credentials)");
        var tokenUrl = RequiredString(o, "tokenUrl", where + ".tokenUrl", p);
        if (tokenUrl is not null && !IsHttpUrl(tokenUrl)) p.Add($"{where}.tokenUrl: '{tokenUrl}' is not an absolute http or https URL");
        var clientId = RequiredString(o, "clientId", where + ".clientId", p);
        var clientSecret = RequiredString(o, "clientSecret", where + ".clientSecret", p);
        var scope = OptionalString(o, "scope", where + ".scope", p);
        Unknown(o, where, p, "type", "tokenUrl", "clientId", "clientSecret", "scope");
        return tokenUrl is null || clientId is null || clientSecret is null ? null : new OAuth2Spec(tokenUrl, clientId, clientSecret, scope);
    }

    // url, page, fetched_at and status describe a fetched page: only an HTTP source has them.
    private static void CheckHttpMeta(SourceSpec source, TargetSpec target, List<string> p)
    {
        if (source.Kind == SourceKind.Http) return;
        foreach (var column in target.Columns)
            if (column.Meta is { } meta && HttpMeta.Contains(meta))
                p.Add($"target.columns.{column.Name}.meta: '{MetaNames.First(m => m.Value.Meta == meta).Key}' is only for HTTP sources");
    }
}
