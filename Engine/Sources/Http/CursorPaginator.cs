using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>A token in the body (<c>cursorPath</c>), sent back in <c>cursorParam</c>.</summary>
public sealed class CursorPaginator(PaginateSpec spec) : Paginator(spec)
{
    public override IEnumerable<KeyValuePair<string, string>> Params(PageCursor cursor) =>
        cursor.Token is { } token ? [new(Spec!.CursorParam ?? "cursor", token)] : [];

    protected override PageCursor? NextOf(PageCursor cursor, FetchedPage page, JsonElement root)
    {
        var token = JsonPath.Text(root, Spec!.CursorPath!);
        if (token is null) return null;
        if (token == cursor.Token)
            throw new SourceDataException(
                $"{page.MaskedUrl}: its next cursor '{token}' is the one it was fetched with: the API repeats its cursor, " +
                "so the import stops here rather than loop; the pages before it stay loaded");
        return new PageCursor(cursor.Index + 1, Token: token);
    }
}
