namespace Ingest.Engine.Sources;

/// <summary>A place holding the files of an import. Each listed object becomes one unit.</summary>
public interface ISource
{
    /// <summary>Lists the matching objects, sorted by key, so that planning is repeatable.</summary>
    /// <exception cref="SourceDataException">The folder or bucket does not exist, or nothing matches.</exception>
    Task<IReadOnlyList<SourceObject>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Opens one object for reading.</summary>
    Task<Stream> OpenAsync(string key, CancellationToken cancellationToken = default);
}

/// <summary>One file or object: its key (what <see cref="ISource.OpenAsync"/> takes) and size.</summary>
public sealed record SourceObject(string Key, long Size);
