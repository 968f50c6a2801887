using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>
/// Where an import's bytes live, for one kind of source: it plans the import into units as it lists
/// them, and opens a unit's content. What the bytes hold is the record format's business.
/// Registered by kind (<see cref="SourceServiceCollectionExtensions.AddIngestSources"/>).
/// </summary>
public interface ISourceConnector
{
    /// <summary>The kind of source this connector reads.</summary>
    SourceKind Kind { get; }

    /// <summary>
    /// Whether a unit's version (its ETag) changes with its content, so that an unchanged version
    /// means unchanged bytes (S3's ETag). False when it is made of size and modification time: an
    /// incremental import then keeps a hash of what it loaded, to tell a touched file from a rewritten one.
    /// Sources without file versions (queues, databases, APIs) never hash.
    /// </summary>
    bool VersionTracksContent => true;

    /// <summary>
    /// Yields the units of an import, in the same order every time, as the listing goes on.
    /// Yields nothing when nothing matches (the planner says so).
    /// </summary>
    /// <exception cref="SourceDataException">The folder or bucket does not exist.</exception>
    IAsyncEnumerable<UnitDescriptor> PlanAsync(SourceSpec source, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens a unit's content at <paramref name="offset"/> bytes from its start. With a
    /// <paramref name="version"/> (the ETag a checkpoint was read from), the connector reads only
    /// that version where it can make the source check it (an S3 conditional GET); the caller
    /// compares <see cref="OpenedObject.Info"/> too.
    /// </summary>
    /// <exception cref="SourceDataException">The file or object no longer exists, or is not <paramref name="version"/>.</exception>
    Task<OpenedObject> OpenAsync(SourceSpec source, UnitDescriptor unit, long offset, string? version, CancellationToken cancellationToken = default);

    /// <summary>
    /// The bound an incremental import read by cursor reads within (<see cref="SourceSpec.Since"/>),
    /// given the cursor the store holds under its name (<paramref name="committed"/>) and whether it is
    /// <c>--full</c>: decided once, at planning. By default <see cref="CursorSince.From"/> (the committed
    /// cursor less the lag, or the initial value); a SQL source's is a window (<see cref="Sql.SqlWindow"/>).
    /// </summary>
    /// <exception cref="SourceDataException">The bound cannot be made (the import fails at planning, saying why).</exception>
    Task<System.Text.Json.JsonElement> SinceAsync(SourceSpec source, System.Text.Json.JsonElement? committed, bool full, string name, CancellationToken cancellationToken = default) =>
        Task.FromResult(CursorSince.From(source.Cursor ?? throw new InvalidOperationException("a source not read by cursor has no bound"), committed, full, name));

    /// <summary>A short description of where a source's units are, for messages (<c>folder /data</c>, <c>s3://bucket/prefix</c>).</summary>
    string Describe(SourceSpec source);
}
