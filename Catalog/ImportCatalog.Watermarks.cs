using Ingest.GrainInterfaces;

namespace Ingest.Catalog;

public sealed partial class ImportCatalog
{
    /// <summary>
    /// Clears what the watermark store holds for <paramref name="name"/> (or only for
    /// <paramref name="file"/>), so that its next import loads everything (or that file); returns
    /// how many file entries went, whether a cursor did, and whether the spec they were written under did. While an import of the name has not
    /// ended it throws <see cref="ImportNameInUseException"/> and clears nothing: that import would
    /// write entries again as it commits.
    /// </summary>
    public async Task<(int Files, bool Cursor, bool Spec)> ResetWatermarksAsync(string name, string? file = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await LockNameAsync(connection, name, cancellationToken);
        if (await UnfinishedAsync(connection, name, cancellationToken) is { } unfinished)
            throw new ImportNameInUseException(name, unfinished.Id, unfinished.State);
        var reset = await Watermarks.ResetAsync(connection, name, file, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return reset;
    }

    /// <summary>What the watermark store holds for <paramref name="name"/>; null when it holds nothing.</summary>
    public Task<Watermarks.State?> GetWatermarksAsync(string name, CancellationToken cancellationToken = default) =>
        Watermarks.ReadAsync(dataSource, name, cancellationToken);

    /// <summary>
    /// How an incremental <paramref name="spec"/>'s source and target differ from those its name's
    /// watermark store was written under; empty when they do not, or when the store holds nothing.
    /// </summary>
    public async Task<IReadOnlyList<string>> GetWatermarkChangesAsync(ImportSpec spec, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await Watermarks.ChangesAsync(connection, spec, cancellationToken);
    }
}
