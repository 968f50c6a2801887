using System.Text;
using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// One page's request, its <c>${VAR}</c> references resolved on this node at request time: the URL
/// (the spec's with its query, or a next-page link with the spec's query parameters it lacks) and
/// the pagination's parameters, the headers and the body. <see cref="MaskedUrl"/> is what may be shown.
/// </summary>
public sealed class PageRequest
{
    private readonly HttpSpec _http;
    private readonly KeyValuePair<string, string>[] _headers;
    private readonly string? _body;

    private PageRequest(HttpSpec http, Uri url, string maskedUrl, KeyValuePair<string, string>[] headers, string? body)
    {
        _http = http;
        Url = url;
        MaskedUrl = maskedUrl;
        _headers = headers;
        _body = body;
    }

    /// <summary>The URL, secrets in it: sent, never shown.</summary>
    public Uri Url { get; }

    /// <summary>The URL with secret values masked.</summary>
    public string MaskedUrl { get; }

    public string Method => _http.Method;

    /// <summary>What tells two requests apart (method, URL, headers, body), hashed: secrets go into it, never out.</summary>
    public string Identity => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(
        $"{_http.Method}\n{Url.AbsoluteUri}\n{string.Join("\n", _headers.Select(h => h.Key + ":" + h.Value))}\n{_body}")));

    /// <summary>The request for the page at <paramref name="cursor"/>.</summary>
    /// <param name="since">
    /// An incremental import's lower bound, a query parameter sent with every request as it is (no
    /// <c>${VAR}</c> in it is resolved); a next-page link that names the parameter keeps its own.
    /// </param>
    /// <exception cref="SourceDataException">A referenced variable is not set on this node.</exception>
    public static PageRequest For(HttpSpec http, Paginator paginator, PageCursor cursor, SecretMask mask, KeyValuePair<string, string>? since = null)
    {
        var url = new StringBuilder(EnvironmentReference.Resolve(cursor.Url ?? http.Url));
        var present = cursor.Url is null ? [] : QueryNames(url.ToString());
        var query = (http.Query ?? new Dictionary<string, string>())
            .Where(q => !present.Contains(q.Key))
            .Select(q => KeyValuePair.Create(q.Key, EnvironmentReference.Resolve(q.Value)))
            .Concat(since is { } bound && !present.Contains(bound.Key) ? [bound] : [])
            .Concat(paginator.Params(cursor));
        foreach (var (name, value) in query)
        {
            url.Append(url.ToString().Contains('?') ? '&' : '?');
            url.Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(value));
        }
        var text = url.ToString();
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new SourceDataException($"'{mask.Mask(text)}' is not an absolute http or https URL (check source.url and the variables it references)");
        var headers = (http.Headers ?? new Dictionary<string, string>()).Select(h => KeyValuePair.Create(h.Key, EnvironmentReference.Resolve(h.Value))).ToArray();
        // A value put into the JSON body is escaped as a JSON string's content.
        var body = http.Body is null ? null : ResolveInJson(http.Body);
        return new PageRequest(http, uri, mask.Mask(uri.AbsoluteUri), headers, body);
    }

    /// <summary>A new message for one try (a message is sent once).</summary>
    public HttpRequestMessage CreateMessage(string? bearer)
    {
        var message = new HttpRequestMessage(new HttpMethod(_http.Method), Url);
        foreach (var (name, value) in _headers)
            if (!message.Headers.TryAddWithoutValidation(name, value))
                (message.Content ??= new ByteArrayContent([])).Headers.TryAddWithoutValidation(name, value);
        if (bearer is not null) message.Headers.Authorization = new("Bearer", bearer);
        if (_body is not null) message.Content = new StringContent(_body, Encoding.UTF8, "application/json");
        message.Headers.Accept.ParseAdd("application/json");
        return message;
    }

    private static HashSet<string> QueryNames(string url)
    {
        var q = url.IndexOf('?');
        if (q < 0) return [];
        return url[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => Uri.UnescapeDataString(pair.Split('=')[0]))
            .ToHashSet(StringComparer.Ordinal);
    }

    private static string ResolveInJson(string json)
    {
        var names = EnvironmentReference.Names(json).Distinct().ToList();
        foreach (var name in names)
        {
            var escaped = JsonEncodedText.Encode(EnvironmentReference.Value(name)).ToString();
            json = json.Replace("${" + name + "}", escaped, StringComparison.Ordinal);
        }
        return json;
    }
}
