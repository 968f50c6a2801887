using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>A next page's URL in the body (<c>nextPath</c>, relative ones resolved) or in the <c>Link</c> header.</summary>
public sealed class NextLinkPaginator(PaginateSpec spec, SecretMask mask) : Paginator(spec)
{
    protected override PageCursor? NextOf(PageCursor cursor, FetchedPage page, JsonElement root)
    {
        var link = Spec!.NextPath is { } path ? JsonPath.Text(root, path) : NextOfLinkHeader(page.Link);
        if (link is null || !Uri.TryCreate(page.Url, link, out var next)) return null;
        if (next == page.Url)
            throw new SourceDataException(
                $"{page.MaskedUrl}: its next page is the page itself ('{mask.Mask(next.AbsoluteUri)}'): the API repeats its next link, " +
                "so the import stops here rather than loop; the pages before it stay loaded");
        // Stored in the checkpoint: the API's echo of a key goes back to its placeholder.
        return new PageCursor(cursor.Index + 1, Url: mask.Placeholders(next.AbsoluteUri));
    }

    // Link: <https://api.example/items?page=2>; rel="next", <…>; rel="last"
    private static string? NextOfLinkHeader(string? header)
    {
        if (header is null) return null;
        foreach (var part in header.Split(','))
        {
            var pieces = part.Split(';');
            var target = pieces[0].Trim();
            if (target.Length < 2 || target[0] != '<' || target[^1] != '>') continue;
            if (pieces.Skip(1).Any(p => p.Trim().Replace(" ", "") is "rel=\"next\"" or "rel=next"))
                return target[1..^1];
        }
        return null;
    }
}
