namespace Ingest.Engine.Sources;

/// <summary>An object opened for reading: its content from the offset asked for, and the version of it being read.</summary>
public sealed class OpenedObject(Stream content, SourceObject info) : IAsyncDisposable
{
    public Stream Content => content;

    public SourceObject Info => info;

    public ValueTask DisposeAsync() => content.DisposeAsync();
}
