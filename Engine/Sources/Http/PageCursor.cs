using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// Which page to fetch: a paginator's state, and what a paginated unit's checkpoint holds
/// (<see cref="UnitCheckpoint.State"/>), committed with the rows of the page before it.
/// </summary>
/// <param name="Index">The page's 0-based position in the listing.</param>
/// <param name="Number">A page number, or an offset; null for links and cursors.</param>
/// <param name="Url">A next-page URL, its secrets as <c>${VAR}</c> placeholders; null: the spec's URL.</param>
/// <param name="Token">A cursor token to send back; null on the first page.</param>
public sealed record PageCursor(
    long Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Number = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Url = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Token = null)
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public string Serialize() => JsonSerializer.Serialize(this, Options);

    public static PageCursor Deserialize(string state) =>
        JsonSerializer.Deserialize<PageCursor>(state, Options) ?? throw new JsonException("a page cursor is null");
}
