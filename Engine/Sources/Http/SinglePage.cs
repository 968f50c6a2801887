using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>No pagination: one request.</summary>
public sealed class SinglePage() : Paginator(null)
{
    protected override PageCursor? NextOf(PageCursor cursor, FetchedPage page, JsonElement root) => null;
}
