using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary><c>?offset=N&amp;limit=L</c>; fans out with <c>totalPath</c> (records in all).</summary>
public sealed class OffsetPaginator(PaginateSpec spec) : Paginator(spec)
{
    public override PageCursor First => At(0);

    public override PageCursor At(long index) => new(index, index * Spec!.Limit);

    public override IEnumerable<KeyValuePair<string, string>> Params(PageCursor cursor) =>
        [new(Spec!.OffsetParam ?? "offset", Invariant(cursor.Number!.Value)), new(Spec!.LimitParam ?? "limit", Invariant(Spec!.Limit))];

    public override long? Total(JsonElement root) =>
        Spec!.TotalPath is { } path && JsonPath.Number(root, path) is { } records ? (records + Spec!.Limit - 1) / Spec!.Limit : null;

    protected override PageCursor? NextOf(PageCursor cursor, FetchedPage page, JsonElement root) =>
        Ends(page, root) ? null : At(cursor.Index + 1);
}
