using System.Globalization;
using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// One style of pagination (<c>source.paginate.type</c>), knowing nothing of any one API: the first
/// page's cursor, the query parameters that ask for a page, and the cursor of the page after one
/// (read from its body or headers), or none at its end. With a total in the first response
/// (<see cref="Total"/>) the pages are known at planning and fan out as units (<see cref="At"/>).
/// </summary>
public abstract class Paginator(PaginateSpec? spec)
{
    /// <summary>The spec's <c>paginate</c>; null without pagination.</summary>
    protected PaginateSpec? Spec { get; } = spec;

    /// <summary>The paginator <paramref name="http"/> names; without <c>paginate</c>, one page.</summary>
    public static Paginator For(HttpSpec http, SecretMask mask) => http.Paginate switch
    {
        null => new SinglePage(),
        { Type: PaginationType.Page } p => new PageNumberPaginator(p),
        { Type: PaginationType.Offset } p => new OffsetPaginator(p),
        { Type: PaginationType.Next } p => new NextLinkPaginator(p, mask),
        { Type: PaginationType.Cursor } p => new CursorPaginator(p),
        _ => throw new ArgumentOutOfRangeException(nameof(http)),
    };

    /// <summary>The first page.</summary>
    public virtual PageCursor First => new(0);

    /// <summary>The page at a 0-based position of a listing whose total is known.</summary>
    public virtual PageCursor At(long index) => throw new NotSupportedException("these pages do not fan out");

    /// <summary>The query parameters that ask for the page at <paramref name="cursor"/>.</summary>
    public virtual IEnumerable<KeyValuePair<string, string>> Params(PageCursor cursor) => [];

    /// <summary>The number of pages the first response announces; null when it does not (the pages are then followed in order).</summary>
    public virtual long? Total(JsonElement root) => null;

    /// <summary>The page's number as the <c>page</c> meta column holds it: a page number, else its 1-based position.</summary>
    public virtual long PageNumber(PageCursor cursor) => cursor.Index + 1;

    /// <summary>
    /// The page after <paramref name="page"/> (fetched at <paramref name="cursor"/>), or null when it
    /// was the last (or <c>maxPages</c> is reached).
    /// </summary>
    /// <exception cref="SourceDataException">The page's next link or token repeats its own.</exception>
    public PageCursor? Next(PageCursor cursor, FetchedPage page, JsonElement root)
    {
        var next = NextOf(cursor, page, root);
        return next is not null && Spec?.MaxPages is { } most && next.Index >= most ? null : next;
    }

    protected abstract PageCursor? NextOf(PageCursor cursor, FetchedPage page, JsonElement root);

    /// <summary>Pages read until an empty one, or one whose <c>hasMorePath</c> is false.</summary>
    protected bool Ends(FetchedPage page, JsonElement root) =>
        page.Records == 0 || (Spec?.HasMorePath is { } path && JsonPath.Flag(root, path) == false);

    protected static string Invariant(long n) => n.ToString(CultureInfo.InvariantCulture);
}
