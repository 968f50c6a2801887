using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ingest.Tests.Harness;

/// <summary>
/// A paginated JSON API on 127.0.0.1 (Kestrel, in the test process), shaped like the ones users read:
/// <c>/tmdb/movie/popular?page=N</c> (<c>page</c>, <c>total_pages</c>, <c>results</c>),
/// <c>/rawg/games?page=N</c> (<c>next</c> an absolute URL echoing the key, <c>results</c>),
/// <c>/cursor/items?cursor=T</c> (<c>data</c>, <c>meta.next_cursor</c>), <c>/offset/items?offset=&amp;limit=</c>
/// (<c>total</c>, <c>items</c>, a <c>Link</c> header), <c>/changes/items?updated_since=T&amp;page=N</c>
/// (<see cref="Changes"/> updated at or after <c>T</c>, oldest first: <c>results</c>, <c>total_pages</c>,
/// <c>has_more</c>) and <c>/oauth/token</c>. <see cref="Faults"/>
/// injects statuses, <c>Retry-After</c>, delays, resets and broken bodies per request; every
/// request is recorded with its arrival time and client.
/// </summary>
public sealed class FakeApi : IAsyncDisposable
{
    /// <summary>What to do instead of (or before) answering a request.</summary>
    public sealed record Fault(int? Status = null, string? RetryAfter = null, string? Body = null, string ContentType = "application/json",
        TimeSpan Delay = default, bool Reset = false, string? Next = null);

    /// <summary>One request as it arrived: its route, page, the how-many-th request of that page, when (seconds since the API started) and from where.</summary>
    public sealed record Arrival(string Route, long Page, int Try, double At, string Client, string Query, string? Authorization, int Status);

    private readonly WebApplication _app;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentDictionary<(string, long), int> _tries = new();
    private int _tokens;

    private FakeApi(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    /// <summary>Pages of the catalogues; records per page.</summary>
    public int Pages { get; set; } = 30;

    public int PerPage { get; set; } = 20;

    /// <summary>The api_key (query, or RAWG's <c>key</c>) every request must carry; null: none.</summary>
    public string? Key { get; set; }

    /// <summary>The bearer token every request must carry; null: none (with <see cref="OAuth"/>, the tokens it issued).</summary>
    public string? Token { get; set; }

    /// <summary>Client credentials <c>/oauth/token</c> accepts (id, secret); tokens it issues last <see cref="TokenSeconds"/>.</summary>
    public (string Id, string Secret)? OAuth { get; set; }

    public int TokenSeconds { get; set; } = 3600;

    /// <summary>The number of pages a page announces (TMDB's <c>total_pages</c>), by page; null: <see cref="Pages"/>.</summary>
    public Func<long, int>? Announced { get; set; }

    /// <summary>A delay before every page's answer.</summary>
    public TimeSpan PageDelay { get; set; }

    /// <summary>Decides a fault for a request (route, page, try); null: answer normally.</summary>
    public Func<string, long, int, Fault?>? Faults { get; set; }

    public ConcurrentQueue<Arrival> Requests { get; } = new();

    /// <summary>The records of <c>/changes/items</c> by id: a title and when it was last updated (ISO 8601, UTC, <c>Z</c>).</summary>
    public ConcurrentDictionary<long, (string Title, DateTimeOffset UpdatedAt)> Changes { get; } = new();

    /// <summary>How <c>/changes/items</c> writes its times.</summary>
    public static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The value of a query parameter in a request as it arrived; null when absent.</summary>
    public static string? QueryValue(Arrival request, string name) =>
        Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(request.Query).TryGetValue(name, out var v) ? v.ToString() : null;

    public List<Arrival> RequestsOf(string route) => [.. Requests.Where(r => r.Route == route)];

    /// <summary>
    /// What breaks a resumption at <paramref name="page"/> (the page after the last one committed) in the requests of
    /// <paramref name="route"/> after the first <paramref name="before"/> (a silo SIGKILLed then): the page not asked for, a page
    /// before the one in flight at the kill asked for again, or a page asked for more than twice; null when nothing does.
    /// </summary>
    public string? ResumptionFault(string route, int before, long page)
    {
        var after = Requests.Skip(before).Where(r => r.Route == route).Select(r => r.Page).ToList();
        if (!after.Contains(page) || after.Min() < page - 1) return $"pages fetched after the kill: {string.Join(",", after)}; expected from {page}";
        var most = RequestsOf(route).GroupBy(r => r.Page).MaxBy(g => g.Count())!;
        return most.Count() > 2 ? $"page {most.Key} was fetched {most.Count()} times" : null;
    }

    public static async Task<FakeApi> StartAsync()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var api = new FakeApi(app);
        app.Run(api.HandleAsync);
        await app.StartAsync();
        api.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        return api;
    }

    private async Task HandleAsync(HttpContext http)
    {
        var route = http.Request.Path.Value!.Trim('/');
        var q = http.Request.Query;
        long page = route switch
        {
            "cursor/items" => q["cursor"].FirstOrDefault() is { Length: > 0 } c ? long.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(c))) : 1,
            "offset/items" => long.Parse(q["offset"].FirstOrDefault() ?? "0") / Math.Max(1, int.Parse(q["limit"].FirstOrDefault() ?? "20")) + 1,
            _ => long.TryParse(q["page"].FirstOrDefault(), out var n) ? n : 1,
        };
        var attempt = _tries.AddOrUpdate((route, page), 1, (_, n) => n + 1);
        var at = _clock.Elapsed.TotalSeconds;
        var status = 0; // no answer: the client went away (a timeout), or the connection was reset
        try
        {
            status = await AnswerAsync(http, route, page, attempt);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
        }
        finally
        {
            Requests.Enqueue(new Arrival(route, page, attempt, at, $"{http.Connection.RemoteIpAddress}:{http.Connection.RemotePort}",
                http.Request.QueryString.Value ?? "", http.Request.Headers.Authorization.FirstOrDefault(), status));
        }
    }

    private async Task<int> AnswerAsync(HttpContext http, string route, long page, int attempt)
    {
        if (route == "oauth/token") return await TokenAsync(http);
        var fault = Faults?.Invoke(route, page, attempt);
        if (fault is { Delay: var delay } && delay > TimeSpan.Zero) await Task.Delay(delay, http.RequestAborted);
        if (PageDelay > TimeSpan.Zero) await Task.Delay(PageDelay, http.RequestAborted);
        if (fault is { Reset: true })
        {
            http.Abort();
            return 0;
        }
        if (fault is { Status: { } code })
        {
            http.Response.StatusCode = code;
            if (fault.RetryAfter is not null) http.Response.Headers.RetryAfter = fault.RetryAfter;
            http.Response.ContentType = fault.ContentType;
            await http.Response.WriteAsync(fault.Body ?? $$"""{"status_code": {{code}}, "status_message": "injected"}""");
            return code;
        }
        if (!Authorized(http))
        {
            http.Response.StatusCode = 401;
            await http.Response.WriteAsync("""{"status_code": 7, "status_message": "Invalid API key: You must be granted a valid key."}""");
            return 401;
        }
        if (fault is { Body: { } body })
        {
            http.Response.ContentType = fault.ContentType;
            await http.Response.WriteAsync(body);
            return 200;
        }
        var self = $"{BaseUrl}/{route}";
        object document = route switch
        {
            "tmdb/movie/popular" => new Dictionary<string, object?>
            {
                ["page"] = page, ["results"] = Movies(page), ["total_pages"] = Announced?.Invoke(page) ?? Pages, ["total_results"] = Pages * PerPage,
            },
            "rawg/games" => new Dictionary<string, object?>
            {
                ["count"] = Pages * PerPage,
                ["next"] = fault?.Next ?? (page < Pages ? $"{self}?page={page + 1}{(Key is null ? "" : "&key=" + Key)}" : null),
                ["previous"] = page > 1 ? $"{self}?page={page - 1}" : null,
                ["results"] = Movies(page),
            },
            "cursor/items" => new Dictionary<string, object?>
            {
                ["data"] = Movies(page),
                ["meta"] = new Dictionary<string, object?> { ["next_cursor"] = fault?.Next ?? (page < Pages ? Cursor(page + 1) : null) },
            },
            "offset/items" => new Dictionary<string, object?> { ["total"] = Pages * PerPage, ["items"] = Movies(page) },
            "changes/items" => ChangesPage(http.Request.Query["updated_since"].FirstOrDefault(), page),
            _ => new Dictionary<string, object?> { ["error"] = "no such route" },
        };
        if (route == "offset/items" && page < Pages)
            http.Response.Headers.Link = $"<{self}?offset={page * PerPage}&limit={PerPage}>; rel=\"next\"";
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(JsonSerializer.Serialize(document));
        return 200;
    }

    // The records updated at or after `since` (a closed range), oldest first (then by id), a page of PerPage.
    private Dictionary<string, object?> ChangesPage(string? since, long page)
    {
        var from = since is null ? DateTimeOffset.MinValue : DateTimeOffset.Parse(since, System.Globalization.CultureInfo.InvariantCulture);
        var all = Changes.Where(c => c.Value.UpdatedAt >= from).OrderBy(c => c.Value.UpdatedAt).ThenBy(c => c.Key).ToList();
        var pages = (all.Count + PerPage - 1) / PerPage;
        return new Dictionary<string, object?>
        {
            ["page"] = page,
            ["total_pages"] = pages,
            ["has_more"] = page < pages,
            ["results"] = all.Skip((int)(page - 1) * PerPage).Take(PerPage)
                .Select(c => new Dictionary<string, object?> { ["id"] = c.Key, ["title"] = c.Value.Title, ["updated_at"] = Iso(c.Value.UpdatedAt) }).ToList(),
        };
    }

    public static string Cursor(long page) => Convert.ToBase64String(Encoding.UTF8.GetBytes(page.ToString()));

    private bool Authorized(HttpContext http)
    {
        var q = http.Request.Query;
        if (Key is not null && q["api_key"].FirstOrDefault() != Key && q["key"].FirstOrDefault() != Key) return false;
        if (Token is not null && http.Request.Headers.Authorization.FirstOrDefault() != $"Bearer {Token}") return false;
        return true;
    }

    private async Task<int> TokenAsync(HttpContext http)
    {
        var form = await http.Request.ReadFormAsync();
        if (OAuth is not { } client || form["client_id"] != client.Id || form["client_secret"] != client.Secret)
        {
            http.Response.StatusCode = 401;
            await http.Response.WriteAsync("""{"error": "invalid_client"}""");
            return 401;
        }
        Token = $"issued-token-{Interlocked.Increment(ref _tokens)}";
        await http.Response.WriteAsJsonAsync(new { access_token = Token, token_type = "Bearer", expires_in = TokenSeconds });
        return 200;
    }

    private List<Dictionary<string, object?>> Movies(long page) =>
        [.. Enumerable.Range(0, page <= Pages ? PerPage : 0).Select(i =>
        {
            var id = (page - 1) * PerPage + i + 1;
            return new Dictionary<string, object?> { ["id"] = id, ["title"] = $"movie {id}", ["popularity"] = 1000.0 / id, ["release_date"] = "2024-05-01" };
        })];

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
