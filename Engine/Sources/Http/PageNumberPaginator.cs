using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary><c>?page=N</c>, from <c>first</c>; fans out with <c>totalPagesPath</c>.</summary>
public sealed class PageNumberPaginator(PaginateSpec spec) : Paginator(spec)
{
    public override PageCursor First => At(0);

    public override PageCursor At(long index) => new(index, Spec!.First + index);

    public override IEnumerable<KeyValuePair<string, string>> Params(PageCursor cursor) => [new(Spec!.Param ?? "page", Invariant(cursor.Number!.Value))];

    public override long? Total(JsonElement root) => Spec!.TotalPagesPath is { } path ? JsonPath.Number(root, path) : null;

    public override long PageNumber(PageCursor cursor) => cursor.Number ?? cursor.Index + Spec!.First;

    protected override PageCursor? NextOf(PageCursor cursor, FetchedPage page, JsonElement root) =>
        Ends(page, root) ? null : At(cursor.Index + 1);
}
