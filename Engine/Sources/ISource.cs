namespace Ingest.Engine.Sources;

/// <summary>A place holding the files of an import. Each listed object becomes one unit.</summary>
public interface ISource
{
    /// <summary>Lists the matching objects, sorted by key, so that planning is repeatable.</summary>
    /// <exception cref="SourceDataException">The folder or bucket does not exist, or nothing matches.</exception>
    Task<IReadOnlyList<SourceObject>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Opens one object for reading, with what the source says of it as it is now.</summary>
    Task<OpenedObject> OpenAsync(string key, CancellationToken cancellationToken = default);
}

/// <summary>One file or object: its key (what <see cref="ISource.OpenAsync"/> takes), size, ETag and modification time.</summary>
public sealed record SourceObject(string Key, long Size, string? ETag = null, DateTimeOffset? Modified = null);

/// <summary>An object opened for reading: its content, and the version of it being read.</summary>
public sealed class OpenedObject(Stream content, SourceObject info) : IAsyncDisposable
{
    public Stream Content => content;

    public SourceObject Info => info;

    public ValueTask DisposeAsync() => content.DisposeAsync();
}
