using System.Diagnostics;
using Ingest.Engine.Loading;
using Ingest.Engine.Relational;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Npgsql;
using Ingest.Catalog;
using static Ingest.Catalog.PlannedUnits;

namespace Ingest.Grains;

/// <summary>
/// Turns an import into units as its source lists them, in chunks (5,000 units, or what a
/// quarter of a second listed), each in a transaction of its own and handed to the import grain as
/// it commits, so units load while the listing goes on. The first chunk also checks (or creates)
/// the target's tables and moves the import to <c>running</c>. The import is planned when its listing ends.
/// A listing cut short (a silo died) is taken up again from its start: units stored already are
/// skipped by key.
/// </summary>
public sealed class ImportPlanner(NpgsqlDataSource dataSource, SourceRegistry sources)
{
    private const int ChunkUnits = 5000;
    private static readonly TimeSpan ChunkTime = TimeSpan.FromMilliseconds(250);

    /// <summary>Plans the import as <see cref="PlanAsync(long, Func{IReadOnlyList{PlannedUnit}, Task}, CancellationToken)"/> does, with nobody to tell of its units as they are stored.</summary>
    public Task<int?> PlanAsync(long importId, CancellationToken cancellationToken = default) =>
        PlanAsync(importId, _ => Task.CompletedTask, cancellationToken);

    /// <summary>
    /// Plans the import if it is pending, or takes up its listing if that was cut short; calls
    /// <paramref name="stored"/> with each chunk of units as it commits. Returns the number of units
    /// the import has, or null when there was nothing to plan (planned already, or cancelled). Bad
    /// input throws <see cref="Engine.SourceDataException"/> (nothing matches, the folder is
    /// missing) or <see cref="TargetTableException"/>; anything else is worth trying again.
    /// </summary>
    public async Task<int?> PlanAsync(long importId, Func<IReadOnlyList<PlannedUnit>, Task> stored, CancellationToken cancellationToken = default)
    {
        if (await PlannedUnits.ToListAsync(dataSource, importId, cancellationToken) is not { } spec) return null;

        var source = sources.For(spec);
        var chunk = new List<UnitDescriptor>();
        var listed = 0;
        var since = new Stopwatch(); // since the chunk's first unit was listed
        await foreach (var file in source.PlanAsync(cancellationToken))
        {
            listed++;
            // A huge file's ranges are stored as its pass finds them, so the first load while it goes on.
            await foreach (var unit in source.SplitAsync(file, cancellationToken))
            {
                if (chunk.Count == 0) since.Restart();
                chunk.Add(unit);
                if (chunk.Count < ChunkUnits && since.Elapsed < ChunkTime) continue;
                if (!await StoreAsync(importId, spec, chunk, stored, cancellationToken)) return null;
                chunk.Clear();
            }
        }
        if (listed == 0) throw source.NothingMatches();
        if (chunk.Count > 0 && !await StoreAsync(importId, spec, chunk, stored, cancellationToken)) return null;
        return await FinishAsync(importId, cancellationToken);
    }

    // Stores a chunk of units (those not stored before); false when the import was paused or cancelled
    // meanwhile (a resume lists again, skipping the units stored).
    private async Task<bool> StoreAsync(long importId, ImportSpec spec, List<UnitDescriptor> chunk, Func<IReadOnlyList<PlannedUnit>, Task> stored, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var state = await PlannedUnits.LockAsync(connection, importId, cancellationToken);
        if (state is not (ImportState.Pending or ImportState.Running)) return false;
        if (state == ImportState.Pending)
        {
            // A relational target's tables in dependency order: dimensions, the root, then its children (foreign keys point back).
            // The target as the units map it (a CSV import's names fields by the keys its reader writes).
            var target = sources.For(spec).Target;
            var plan = target.IsRelational ? new LoadPlan(target) : null;
            IEnumerable<TargetTable> tables = plan is not null ? plan.Tables.Select(t => t.Target) : [new TargetTable(target)];
            foreach (var table in tables) await table.EnsureAsync(connection, cancellationToken);
            await PlannedUnits.StartAsync(connection, importId, plan?.ReportOrder.Select(t => t.Target.Name).ToArray(), cancellationToken);
        }
        var units = await PlannedUnits.InsertAsync(connection, importId, chunk, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        if (units.Count > 0) await stored(units);
        return true;
    }

    // The listing ended: the import is planned, and may complete once its units have ended.
    private async Task<int?> FinishAsync(long importId, CancellationToken cancellationToken)
    {
        var units = await PlannedUnits.FinishAsync(dataSource, importId, cancellationToken);
        // A batch's mark finds its units by range whatever the statistics say; other statements of the
        // import's units still plan better with them. In the background: the import must not wait.
        if (units >= 1000) _ = PlannedUnits.AnalyzeAsync(dataSource);
        return units;
    }
}
