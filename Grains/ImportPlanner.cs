using System.Diagnostics;
using System.Runtime.CompilerServices;
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
/// A huge file is split into byte ranges (<see cref="ImportSource.SplitAsync"/>), a unit each.
/// A listing cut short (a silo died) is taken up again from its start: units stored already are
/// skipped by name. An incremental import (not <c>--full</c>) leaves out the files the watermark
/// store says were committed completely in their current version (all their ranges), and records
/// them as skipped; a file is judged as listed, before any pass splits it. An incremental import
/// read by cursor first fixes the bound it reads from (<see cref="CursorSince"/>), once.
/// </summary>
public sealed class ImportPlanner(NpgsqlDataSource dataSource, SourceRegistry sources)
{
    private const int ChunkUnits = 5000;
    private static readonly TimeSpan ChunkTime = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// A chunk of the listing being gathered: the units to store, the files skipped, and the entries
    /// of touched files that take their new version. Full at <see cref="ChunkUnits"/> of units and
    /// skipped files, or <see cref="ChunkTime"/> after the first.
    /// </summary>
    private sealed class Chunk
    {
        private readonly Stopwatch _since = new();

        public List<UnitDescriptor> Units { get; } = [];
        public List<SkippedFile> Skipped { get; } = [];
        public List<FileWatermark> Refreshed { get; } = [];

        public bool IsEmpty => Units.Count == 0 && Skipped.Count == 0;

        public bool Full => !IsEmpty && (Units.Count + Skipped.Count >= ChunkUnits || _since.Elapsed >= ChunkTime);

        public void Add(UnitDescriptor unit)
        {
            if (IsEmpty) _since.Restart();
            Units.Add(unit);
        }

        public void Skip(UnitDescriptor file, FileVerdict verdict)
        {
            if (IsEmpty) _since.Restart();
            Skipped.Add(new SkippedFile(file.Key, file.ETag, file.Size, verdict.CommittedBy));
            Refreshed.AddRange(verdict.Refreshed);
        }

        public void Clear()
        {
            Units.Clear();
            Skipped.Clear();
            Refreshed.Clear();
        }
    }

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
        if (await PlannedUnits.ToListAsync(dataSource, importId, cancellationToken) is not { } toList) return null;
        if (toList.Spec.Target.ColumnsToResolve)
        {
            // Before any unit: every unit, on any silo, maps the columns found now.
            toList = toList with { Spec = await sources.ResolveAsync(toList.Spec, cancellationToken) };
            await PlannedUnits.ResolveAsync(dataSource, importId, toList.Spec, cancellationToken);
        }

        var spec = toList.Spec;
        if (spec.Source.Cursor is not null && !toList.SinceFixed)
        {
            // Read by cursor: the bound every unit reads from is fixed once, before the first request.
            var committed = toList.FullLoad ? null : await Watermarks.ReadCursorAsync(dataSource, spec.Name, cancellationToken);
            var since = await sources.For(spec).SinceAsync(committed, toList.FullLoad, spec.Name, cancellationToken);
            spec = await PlannedUnits.FixSinceAsync(dataSource, importId, spec, since, cancellationToken);
        }
        var source = sources.For(spec);
        var filter = spec.Source.IncrementalFiles && !toList.FullLoad ? new IncrementalFilter(source) : null;
        var chunk = new Chunk();
        var listed = 0;
        await foreach (var (file, verdict) in JudgedAsync(spec.Name, source, filter, cancellationToken))
        {
            listed++;
            // A file skipped is judged whole, before any pass over it: a huge one is not split to be left out.
            if (verdict.Skip) chunk.Skip(file, verdict);
            else
            {
                // A huge file's ranges are stored as its pass finds them, so the first load while it goes on.
                await foreach (var unit in source.SplitAsync(file, cancellationToken))
                {
                    chunk.Add(unit);
                    if (!chunk.Full) continue;
                    if (!await StoreAsync(importId, spec, chunk, stored, cancellationToken)) return null;
                    chunk.Clear();
                }
            }
            if (!chunk.Full) continue;
            if (!await StoreAsync(importId, spec, chunk, stored, cancellationToken)) return null;
            chunk.Clear();
        }
        if (listed == 0) throw source.NothingMatches();
        if (!chunk.IsEmpty && !await StoreAsync(importId, spec, chunk, stored, cancellationToken)) return null;
        return await FinishAsync(importId, cancellationToken);
    }

    // The files as listed, each with what the import does with it: all load without a filter; with
    // one, they are judged in batches (one look-up in the watermark store for a batch's files).
    private async IAsyncEnumerable<(UnitDescriptor File, FileVerdict Verdict)> JudgedAsync(string name, ImportSource source, IncrementalFilter? filter,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var batch = new List<UnitDescriptor>();
        var since = new Stopwatch(); // since the batch's first file was listed
        await foreach (var file in source.PlanAsync(cancellationToken))
        {
            if (filter is null)
            {
                yield return (file, FileVerdict.Load);
                continue;
            }
            if (batch.Count == 0) since.Restart();
            batch.Add(file);
            if (batch.Count < ChunkUnits && since.Elapsed < ChunkTime) continue;
            foreach (var judged in await JudgeAsync(name, filter, batch, cancellationToken)) yield return judged;
            batch.Clear();
        }
        if (filter is not null && batch.Count > 0)
            foreach (var judged in await JudgeAsync(name, filter, batch, cancellationToken)) yield return judged;
    }

    // What the watermark store holds of a batch's files says which load.
    private async Task<List<(UnitDescriptor, FileVerdict)>> JudgeAsync(string name, IncrementalFilter filter, List<UnitDescriptor> files, CancellationToken cancellationToken)
    {
        var entries = await Watermarks.FilesAsync(dataSource, name, files.Select(f => f.Key).ToHashSet(StringComparer.Ordinal), cancellationToken);
        var judged = new List<(UnitDescriptor, FileVerdict)>(files.Count);
        foreach (var file in files)
            judged.Add((file, await filter.JudgeAsync(file, entries.TryGetValue(file.Key, out var e) ? e : [], cancellationToken)));
        return judged;
    }

    // Stores a chunk of units (those not stored before) and the files it skips; false when the import
    // was paused or cancelled meanwhile (a resume lists again, skipping the units stored).
    private async Task<bool> StoreAsync(long importId, ImportSpec spec, Chunk chunk, Func<IReadOnlyList<PlannedUnit>, Task> stored, CancellationToken cancellationToken)
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
            if (spec.Source.Incremental) await Watermarks.RecordScopeAsync(connection, spec, importId, cancellationToken);
        }
        var units = await PlannedUnits.InsertAsync(connection, importId, chunk.Units, cancellationToken);
        await PlannedUnits.SkipAsync(connection, importId, chunk.Skipped, cancellationToken);
        await Watermarks.RefreshFilesAsync(connection, spec.Name, chunk.Refreshed, cancellationToken);
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
