using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Ingest.GrainInterfaces;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// Fetches one page, whole, before anything is written: each try waits for the rate limit's turn,
/// then has <c>timeoutSeconds</c> for its response and body. Tries that meet a lost connection, a
/// timeout, 408, 429 or 5xx are retried (Polly: exponential backoff with jitter, a
/// <c>Retry-After</c> honoured up to <c>maxDelaySeconds</c>, a 429's pausing every sender of its
/// rate limit key). 401 and 403 are fatal to the import (after one fresh OAuth2 token), other 4xx to
/// the unit; a body that is not JSON, or lacks the records, fails the unit saying so. URLs are
/// shown masked; the runtime's own span of the request (whose URL it does not mask) is not recorded.
/// </summary>
public sealed class PageFetcher(HttpClient client, IRequestGate gate, OAuth2Tokens tokens)
{
    private const int ExcerptChars = 300;
    private const int MaxMissedTurns = 20;

    /// <summary>One try's response, read whole.</summary>
    private sealed record Response(HttpStatusCode Status, byte[] Body, string? ContentType, string? Link, TimeSpan? RetryAfter, DateTimeOffset At);

    /// <summary>The client HTTP sources share: no timeout of its own (each try has one), connections renewed every few minutes.</summary>
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        ConnectCallback = TurnKeepingStream.ConnectAsync,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        AutomaticDecompression = DecompressionMethods.All,
        ConnectTimeout = TimeSpan.FromSeconds(15),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>The shared client, for <see cref="OAuth2Tokens"/>.</summary>
    public HttpClient Client => client;

    /// <summary>Fetches the page of <paramref name="request"/>, retrying as the spec says.</summary>
    /// <exception cref="HttpFetchException">No page after the retries, or a status that retrying cannot fix.</exception>
    /// <exception cref="SourceDataException">The body is not JSON, or has no array of records where <paramref name="records"/> says.</exception>
    public async Task<FetchedPage> FetchAsync(HttpSpec http, PageRequest request, SecretMask mask, string? records, long page, CancellationToken cancellationToken = default)
    {
        string? bearer = null;
        if (http.Auth is { } auth) bearer = await tokens.GetAsync(auth, mask, null, cancellationToken);
        var response = await SendAsync(http, request, mask, bearer, page, cancellationToken);
        if (response.Status is HttpStatusCode.Unauthorized && http.Auth is { } refresh)
        {
            // The token may have expired early or been revoked: one fresh one before giving up.
            bearer = await tokens.GetAsync(refresh, mask, bearer, cancellationToken);
            response = await SendAsync(http, request, mask, bearer, page, cancellationToken);
        }
        var what = $"{request.Method} {request.MaskedUrl}";
        var status = (int)response.Status;
        if (response.Status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            throw new HttpFetchException(
                $"{what}: HTTP {status} {response.Status}: the API refused the credentials; every page would, so the import stops " +
                $"(check the headers, query or auth of the source and the variables they reference on the silos): {Excerpt(response.Body, mask)}", ErrorKind.Fatal);
        if (Retried(response.Status))
            throw new HttpFetchException($"{what}: HTTP {status} {response.Status} on each of {http.Retries.Attempts} tries: {Excerpt(response.Body, mask)}", ErrorKind.Attempt);
        if (status is < 200 or > 299)
            throw new HttpFetchException($"{what}: HTTP {status} {response.Status}: {Excerpt(response.Body, mask)}", ErrorKind.Unit);
        return Parse(request, response, records, mask);
    }

    private async Task<Response> SendAsync(HttpSpec http, PageRequest request, SecretMask mask, string? bearer, long page, CancellationToken cancellationToken)
    {
        var retry = http.Retries;
        var maxDelay = TimeSpan.FromSeconds(retry.MaxDelaySeconds);
        var builder = new ResiliencePipelineBuilder<Response>();
        if (retry.Attempts > 1)
            builder.AddRetry(new RetryStrategyOptions<Response>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: HttpRequestException or IOException or SocketException or TimeoutRejectedException } => true,
                    { Exception: OperationCanceledException } => !cancellationToken.IsCancellationRequested,
                    { Result: { } r } => Retried(r.Status),
                    _ => false,
                }),
                MaxRetryAttempts = retry.Attempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(Math.Max(retry.BackoffSeconds, 0.01)),
                MaxDelay = maxDelay,
                // Retry-After: 0 (or a date passed) falls back on the backoff: no storm.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.RetryAfter is { } after && after > TimeSpan.Zero
                    ? (TimeSpan?)(after < maxDelay ? after : maxDelay)
                    : null),
                OnRetry = async args =>
                {
                    HttpMetrics.Retries.Add(1);
                    if (args.Outcome.Result is { Status: HttpStatusCode.TooManyRequests, RetryAfter: { } after } && after > TimeSpan.Zero && http.RateLimit is { } limit)
                        await gate.PauseAsync(limit, args.RetryDelay, cancellationToken);
                },
            });
        var timeout = TimeSpan.FromSeconds(http.TimeoutSeconds);
        var pipeline = builder.Build();
        var tryTimeout = new ResiliencePipelineBuilder().AddTimeout(timeout).Build();
        try
        {
            return await pipeline.ExecuteAsync(async ct =>
            {
                for (var missed = 0; ; missed++)
                {
                    // A turn missed at the socket was not sent: not a try, but a new turn. A silo that keeps missing
                    // them is too busy to keep the limit, and its try fails (and is retried) saying so.
                    var turn = http.RateLimit is { } limit ? new RequestTurn(await gate.WaitAsync(limit, ct)) : null;
                    RequestTurn.Current = turn;
                    try { return await tryTimeout.ExecuteAsync(async t => await TryOnceAsync(request, bearer, page, t), ct); }
                    catch (Exception e) when (turn is { Missed: true } && !ct.IsCancellationRequested)
                    {
                        HttpMetrics.MissedTurns.Add(1);
                        if (missed == MaxMissedTurns)
                            throw new HttpRequestException($"{MaxMissedTurns} rate limit turns in a row passed before the request could leave: the silo is too busy to keep the limit", e);
                    }
                    finally { RequestTurn.Current = null; }
                }
            }, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or IOException or SocketException or TimeoutRejectedException or OperationCanceledException)
        {
            var why = e is TimeoutRejectedException or OperationCanceledException ? $"no response within {http.TimeoutSeconds:0.###} s (source.timeoutSeconds)" : mask.Mask(e.Message);
            throw new HttpFetchException($"{request.Method} {request.MaskedUrl}: {why}, on each of {retry.Attempts} tries", ErrorKind.Attempt, e);
        }
    }

    private async Task<Response> TryOnceAsync(PageRequest request, string? bearer, long page, CancellationToken cancellationToken)
    {
        using var span = IngestTracing.Source.StartActivity(IngestTracing.SpanPrefix + "http", ActivityKind.Client);
        span?.SetTag("http.request.method", request.Method);
        span?.SetTag("url.full", request.MaskedUrl);
        span?.SetTag("ingest.page", page);
        HttpMetrics.Requests.Add(1);
        using var message = request.CreateMessage(bearer);
        var parent = Activity.Current;
        Activity.Current = null; // the runtime's span would record the URL unmasked: as a root, the silos' sampler drops it
        HttpResponseMessage response;
        try { response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken); }
        finally { Activity.Current = parent; }
        using (response)
        {
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            span?.SetTag("http.response.status_code", (int)response.StatusCode);
            var at = DateTimeOffset.UtcNow;
            var retryAfter = response.Headers.RetryAfter switch
            {
                { Delta: { } delta } => delta,
                { Date: { } date } => date - (response.Headers.Date ?? at),
                _ => (TimeSpan?)null,
            };
            var link = response.Headers.TryGetValues("Link", out var links) ? string.Join(", ", links) : null;
            return new Response(response.StatusCode, body, response.Content.Headers.ContentType?.ToString(), link, retryAfter, at);
        }
    }

    private static bool Retried(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    private static FetchedPage Parse(PageRequest request, Response response, string? records, SecretMask mask)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(response.Body); }
        catch (JsonException e)
        {
            throw new SourceDataException(
                $"{request.MaskedUrl}: the response is not JSON ({response.ContentType ?? "no content type"}; {e.Message}): {Excerpt(response.Body, mask)}");
        }
        try
        {
            var array = document.RootElement;
            if (records is not null && !JsonPath.TryGet(document.RootElement, records, out array))
                throw new SourceDataException($"{request.MaskedUrl}: the response has no '{records}' (source.records){Fields(document.RootElement)}");
            if (array.ValueKind != JsonValueKind.Array)
                throw new SourceDataException(records is null
                    ? $"{request.MaskedUrl}: the response is a JSON {array.ValueKind.ToString().ToLowerInvariant()}, not an array of records: name the array with source.records{Fields(document.RootElement)}"
                    : $"{request.MaskedUrl}: '{records}' in the response is a JSON {array.ValueKind.ToString().ToLowerInvariant()}, not an array of records");
            return new FetchedPage(request.MaskedUrl, request.Url, (int)response.Status, response.Body, response.Link, response.At, array.GetArrayLength(), document);
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    private static string Fields(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object ? $" (it has: {string.Join(", ", root.EnumerateObject().Select(p => p.Name).Take(12))})" : "";

    /// <summary>The start of a body, on one line, secrets masked: for errors.</summary>
    public static string Excerpt(byte[] body, SecretMask mask) => Excerpt(Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 4 * ExcerptChars)), mask);

    /// <inheritdoc cref="Excerpt(byte[], SecretMask)"/>
    public static string Excerpt(string body, SecretMask mask)
    {
        var text = string.Join(' ', body.Split((char[])['\r', '\n', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
        if (text.Length == 0) return "(empty body)";
        text = mask.Mask(text);
        return text.Length <= ExcerptChars ? text : text[..ExcerptChars] + "…";
    }
}
