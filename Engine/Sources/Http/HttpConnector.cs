using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// Pages of an HTTP API (<c>kind: "http"</c>). With a total in the first response (<c>page</c> with
/// <c>totalPagesPath</c>, <c>offset</c> with <c>totalPath</c>) planning fetches the first page and
/// plans one unit per page, which fan out across the cluster; otherwise one unit follows the pages
/// in order, its checkpoint the next page's cursor (<see cref="PageCursor"/>), committed with the
/// rows of the page before it. A page is fetched whole before its transaction opens
/// (<see cref="OpenPageAsync"/>). Keys and messages hold URLs with their secrets masked.
/// </summary>
public sealed class HttpConnector(PageFetcher fetcher) : ISourceConnector
{
    private sealed record Planned(FetchedPage Page, long Expires);

    // The first page as planning fetched it, for its unit on this node: loaded from that fetch
    // rather than fetched twice (once, and only for a minute).
    private readonly ConcurrentDictionary<string, Planned> _planned = new(StringComparer.Ordinal);

    public SourceKind Kind => SourceKind.Http;

    // Pages have no versions: an incremental HTTP import goes by a cursor in the records instead.
    public bool VersionTracksContent => true;

    /// <summary>An incremental import's lower bound as the query parameter that sends it (<see cref="SourceSpec.Since"/>); null for none.</summary>
    public static KeyValuePair<string, string>? Since(SourceSpec source) =>
        source.Cursor is { } cursor && CursorSince.Text(source.Since) is { } since ? KeyValuePair.Create(cursor.Param!, since) : null;

    // The URL as written: its placeholders are not secrets.
    public string Describe(SourceSpec source) => $"'{source.Http!.Url}'";

    public async IAsyncEnumerable<UnitDescriptor> PlanAsync(SourceSpec source, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var http = source.Http!;
        var mask = SecretMask.For(http);
        var paginator = Paginator.For(http, mask);
        var since = Since(source);
        if (http.Paginate is not { FansOut: true })
        {
            yield return new UnitDescriptor(PageRequest.For(http, paginator, paginator.First, mask, since).MaskedUrl);
            yield break;
        }
        var request = PageRequest.For(http, paginator, paginator.First, mask, since);
        var first = await fetcher.FetchAsync(http, request, mask, source.Records, paginator.PageNumber(paginator.First), cancellationToken);
        long total;
        try
        {
            var path = http.Paginate.TotalPagesPath ?? http.Paginate.TotalPath;
            total = paginator.Total(first.Root)
                    ?? throw new SourceDataException($"{first.MaskedUrl}: the response has no number at '{path}' to plan its pages by", kind: ErrorKind.Import);
        }
        catch
        {
            first.Dispose();
            throw;
        }
        // Each page's size guessed from the first's: small pages then go out in batches, fetched before their transaction.
        var size = first.Body.LongLength;
        Remember(request, first);
        var pages = Math.Max(1, Math.Min(total, http.Paginate.MaxPages ?? long.MaxValue));
        for (long i = 0; i < pages; i++)
            yield return new UnitDescriptor(PageRequest.For(http, paginator, paginator.At(i), mask, since).MaskedUrl, size, Page: i, Total: total);
    }

    public Task<OpenedObject> OpenAsync(SourceSpec source, UnitDescriptor unit, long offset, string? version, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("an HTTP unit is opened page by page (OpenPageAsync)");

    /// <summary>
    /// Fetches the unit's page: the one it was planned for, or the one its checkpoint names (its
    /// first at the start). The opening holds the page in memory (<see cref="OpenedObject.Fetched"/>)
    /// and, for a unit that follows its pages, the cursor of the next one (<see cref="OpenedObject.Then"/>).
    /// </summary>
    public async Task<OpenedObject> OpenPageAsync(SourceSpec source, UnitDescriptor unit, UnitCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        var http = source.Http!;
        var mask = SecretMask.For(http);
        var paginator = Paginator.For(http, mask);
        var cursor = unit.Page is { } index ? paginator.At(index)
            : checkpoint.State is { } state ? PageCursor.Deserialize(state)
            : paginator.First;
        var request = PageRequest.For(http, paginator, cursor, mask, Since(source));
        var number = paginator.PageNumber(cursor);
        using var page = TakePlanned(request) ?? await fetcher.FetchAsync(http, request, mask, source.Records, number, cancellationToken);
        var warnings = new List<string>();
        if (unit.Total is { } planned && paginator.Total(page.Root) is { } now && now != planned)
            warnings.Add($"{page.MaskedUrl}: the API announces {now} pages now, {planned} at planning: the list shifted while it was read " +
                         "(the key dedups what repeats; the pages planned are the ones read)");
        var next = unit.Page is null ? paginator.Next(cursor, page, page.Root) : null;
        var info = new SourceObject(page.MaskedUrl, page.Body.Length, Page: number, Status: page.Status, FetchedAt: page.FetchedAt);
        return new OpenedObject(new MemoryStream(page.Body, writable: false), info)
        {
            Fetched = page.Body,
            Then = next is null ? null : new UnitCheckpoint(0, 0, null, next.Serialize()),
            Warnings = warnings,
        };
    }

    private void Remember(PageRequest request, FetchedPage page)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var (key, old) in _planned)
            if (old.Expires < now && _planned.TryRemove(KeyValuePair.Create(key, old))) old.Page.Dispose();
        if (_planned.TryGetValue(request.Identity, out var replaced) && _planned.TryRemove(KeyValuePair.Create(request.Identity, replaced))) replaced.Page.Dispose();
        if (!_planned.TryAdd(request.Identity, new Planned(page, now + 60 * Stopwatch.Frequency))) page.Dispose();
    }

    private FetchedPage? TakePlanned(PageRequest request) =>
        _planned.TryRemove(request.Identity, out var planned) && planned.Expires > Stopwatch.GetTimestamp() ? planned.Page : null;
}
