namespace Ingest.GrainInterfaces;

/// <summary>
/// A paginated HTTP API as a source (<c>kind: "http"</c>). Strings may hold <c>${VAR}</c>
/// references, resolved on the silo at request time: the stored spec keeps the placeholders.
/// </summary>
/// <param name="Url">The first page's URL (without the query the spec adds).</param>
/// <param name="Query">Query parameters added to every request (values may reference the environment).</param>
/// <param name="Headers">Headers sent with every request.</param>
/// <param name="Method"><c>GET</c> or <c>POST</c>.</param>
/// <param name="Body">For <c>POST</c>: the JSON body, as text.</param>
/// <param name="Paginate">How the pages follow one another; null: one request.</param>
/// <param name="TimeoutSeconds">How long one try of one request may take, body included.</param>
/// <param name="Retry">How each request is retried within a unit's attempt.</param>
/// <param name="RateLimit">The requests allowed across the cluster to every import sharing its key; null: no limit, no coordination.</param>
/// <param name="Auth">OAuth2 client credentials: a bearer token fetched and refreshed; null: none.</param>
public sealed record HttpSpec(
    string Url,
    IReadOnlyDictionary<string, string>? Query = null,
    IReadOnlyDictionary<string, string>? Headers = null,
    string Method = "GET",
    string? Body = null,
    PaginateSpec? Paginate = null,
    double TimeoutSeconds = HttpSpec.DefaultTimeoutSeconds,
    HttpRetrySpec? Retry = null,
    RateLimitSpec? RateLimit = null,
    OAuth2Spec? Auth = null)
{
    /// <summary>The per-try timeout of a spec that names none: 30 s.</summary>
    public const double DefaultTimeoutSeconds = 30;

    /// <summary>The retries of a spec that names none.</summary>
    public HttpRetrySpec Retries => Retry ?? HttpRetrySpec.Default;
}

/// <summary>The styles of pagination.</summary>
public enum PaginationType
{
    /// <summary>A page number in a query parameter.</summary>
    Page,
    /// <summary>An offset and a limit in query parameters.</summary>
    Offset,
    /// <summary>A next page's URL in the body (or a <c>Link</c> header).</summary>
    Next,
    /// <summary>A token in the body, sent back in a query parameter.</summary>
    Cursor,
}

/// <summary>How pages follow one another (<c>source.paginate</c>).</summary>
/// <param name="Type">The style.</param>
/// <param name="Param">Page: the page number's query parameter (default <c>page</c>).</param>
/// <param name="First">Page: the first page's number (default 1).</param>
/// <param name="TotalPagesPath">Page: the dotted path of the number of pages in a response; with it the pages fan out as units.</param>
/// <param name="HasMorePath">Page, offset: a boolean in the body that says whether more pages follow; without totals, pages are read until an empty one or this is false.</param>
/// <param name="OffsetParam">Offset: the offset's query parameter (default <c>offset</c>).</param>
/// <param name="LimitParam">Offset: the limit's query parameter (default <c>limit</c>).</param>
/// <param name="Limit">Offset: records per page (default 100).</param>
/// <param name="TotalPath">Offset: the dotted path of the total number of records; with it the pages fan out as units.</param>
/// <param name="NextPath">Next: the dotted path of the next page's URL in the body (relative URLs are resolved).</param>
/// <param name="Header">Next: <c>link</c> to follow the <c>Link: &lt;…&gt;; rel="next"</c> header instead.</param>
/// <param name="CursorPath">Cursor: the dotted path of the next page's token in the body.</param>
/// <param name="CursorParam">Cursor: the query parameter that sends the token back (default <c>cursor</c>).</param>
/// <param name="MaxPages">The most pages read; null: no limit.</param>
public sealed record PaginateSpec(
    PaginationType Type,
    string? Param = null,
    long First = 1,
    string? TotalPagesPath = null,
    string? HasMorePath = null,
    string? OffsetParam = null,
    string? LimitParam = null,
    int Limit = 100,
    string? TotalPath = null,
    string? NextPath = null,
    string? Header = null,
    string? CursorPath = null,
    string? CursorParam = null,
    int? MaxPages = null)
{
    /// <summary>Whether the pages are known at planning (a total in the first response) and fan out as units; else one unit reads them in order.</summary>
    public bool FansOut => Type switch
    {
        PaginationType.Page => TotalPagesPath is not null,
        PaginationType.Offset => TotalPath is not null,
        _ => false,
    };
}

/// <summary>How one request is retried (<c>source.retry</c>), inside one attempt at its unit.</summary>
/// <param name="Attempts">Tries per request, the first included (default 5).</param>
/// <param name="BackoffSeconds">The first wait, doubled on each retry, with jitter (default 1).</param>
/// <param name="MaxDelaySeconds">The longest wait, a <c>Retry-After</c> included (default 60).</param>
public sealed record HttpRetrySpec(int Attempts = 5, double BackoffSeconds = 1, double MaxDelaySeconds = 60)
{
    /// <summary>Five tries, one second apart and doubling, at most a minute.</summary>
    public static HttpRetrySpec Default { get; } = new();
}

/// <summary>At most <paramref name="Requests"/> in any window of <paramref name="PerSeconds"/>, across the cluster, for every import sharing <paramref name="Key"/>.</summary>
public sealed record RateLimitSpec(string Key, int Requests, double PerSeconds);

/// <summary>OAuth2 client credentials (<c>source.auth</c>, type <c>oauth2-client-credentials</c>).</summary>
public sealed record OAuth2Spec(string TokenUrl, string ClientId, string ClientSecret, string? Scope = null);
