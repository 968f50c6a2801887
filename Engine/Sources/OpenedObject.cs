namespace Ingest.Engine.Sources;

/// <summary>An object opened for reading: its content from the offset asked for, and the version of it being read.</summary>
public sealed class OpenedObject(Stream content, SourceObject info) : IAsyncDisposable
{
    public Stream Content => content;

    public SourceObject Info => info;

    /// <summary>
    /// The whole content, when it is held in memory (a fetched page): a retried commit reads it again
    /// from here instead of fetching it again. Null for files and objects, which are opened again.
    /// </summary>
    public byte[]? Fetched { get; init; }

    /// <summary>
    /// For a unit read page by page: where it goes on after this content (the next page's cursor in
    /// <see cref="UnitCheckpoint.State"/>); null when the unit ends with it.
    /// </summary>
    public UnitCheckpoint? Then { get; init; }

    /// <summary>What the source noticed and the import's events should keep (a total that changed since planning).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public ValueTask DisposeAsync() => content.DisposeAsync();
}
