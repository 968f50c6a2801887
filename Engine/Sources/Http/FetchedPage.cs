using System.Text.Json;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// A page as fetched: its body in memory (read again from here when only its commit is retried),
/// parsed to read its pagination, and what it was fetched from. Disposing frees the parse.
/// </summary>
/// <param name="MaskedUrl">The URL it was fetched from, secrets masked.</param>
/// <param name="Url">The URL as requested, secrets in it: for resolving relative links only, never shown.</param>
/// <param name="Status">Its HTTP status.</param>
/// <param name="Body">The body.</param>
/// <param name="Link">Its <c>Link</c> header, if any.</param>
/// <param name="FetchedAt">When its response arrived.</param>
/// <param name="Records">How many records it holds.</param>
/// <param name="Document">The body, parsed.</param>
public sealed record FetchedPage(string MaskedUrl, Uri Url, int Status, byte[] Body, string? Link, DateTimeOffset FetchedAt, int Records, JsonDocument Document) : IDisposable
{
    public JsonElement Root => Document.RootElement;

    public void Dispose() => Document.Dispose();
}
