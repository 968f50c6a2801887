using System.Collections.Concurrent;
using System.Text;
using Ingest.GrainInterfaces;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.Engine.Quality;
using Ingest.Engine.Relational;
using Ingest.Engine.Sources;
using Npgsql;

namespace Ingest.Engine;

/// <summary>
/// Loads a unit, or a chunk of one: the unit's reading yields records → mapper yields rows (one
/// table, or every table of a relational target) → loader writes them. Runs on the caller's
/// connection and transaction, so the caller commits the rows together with the unit's checkpoint
/// and whatever else belongs to it.
/// </summary>
public sealed class UnitLoader
{
    /// <summary>Rejected records kept per unit; the rest are counted. Rejects wait in memory until the unit commits.</summary>
    public const int MaxKeptRejects = 10_000;

    private const int MaxRawRejectChars = 16 * 1024;

    private readonly ImportSource _source;
    private readonly TargetTable _table;
    private readonly CheckedMapper _mapper;
    private readonly LoadPlan? _plan;

    // Row buffers of finished units for the next ones. A unit's rows live as long as the unit: long
    // enough for the GC to promote them, so new ones per unit cost the silo more collecting than mapping.
    private readonly ConcurrentBag<RowSink[]> _sinks = [];

    // Whether this import's upserts try the direct COPY: cleared by a conflict, set again by a staged unit (or batch) of only new keys.
    private volatile bool _tryDirect = true;

    public UnitLoader(ImportSource source, TargetSpec target)
    {
        _source = source;
        _table = new TargetTable(target);
        _mapper = new CheckedMapper(target);
        _plan = target.IsRelational ? new LoadPlan(target) : null;
    }

    public static UnitLoader For(ImportSpec spec, SourceRegistry sources)
    {
        var source = sources.For(spec);
        return new(source, source.Target);
    }

    /// <summary>The import's source, which opens its units.</summary>
    public ImportSource Source => _source;

    /// <summary>
    /// Loads the next records of <paramref name="unit"/>, at most <paramref name="maxRecords"/>, on
    /// the caller's connection, inside the caller's transaction. An upsert is first
    /// tried as a plain COPY into the target (and its child tables): while none of its keys exist
    /// yet (a first load) that is as fast as COPY gets. A key that exists, in the table or twice in
    /// the file, throws <see cref="DirectCopyConflictException"/>: the caller rolls back and loads the
    /// unit again from its last checkpoint, and this import's units go through staging and merge
    /// until one of them finds only new keys.
    /// </summary>
    public async Task<UnitLoadResult> LoadAsync(NpgsqlConnection connection, long importId, UnitReading unit, long maxRecords, CancellationToken cancellationToken = default)
    {
        if (!_table.IsKeyed) return await LoadOnceAsync(connection, importId, unit, maxRecords, staged: false, cancellationToken);
        if (!_tryDirect)
        {
            var staged = await LoadOnceAsync(connection, importId, unit, maxRecords, staged: true, cancellationToken);
            if (OnlyNewKeys(staged)) _tryDirect = true;
            return staged;
        }
        try
        {
            return await LoadOnceAsync(connection, importId, unit, maxRecords, staged: false, cancellationToken);
        }
        catch (PostgresException e) when (IsKeyConflict(e))
        {
            throw Conflict(unit.Info.Key, e);
        }
    }

    /// <summary>
    /// Loads a batch of small units whole, on the caller's connection, inside the caller's transaction,
    /// one result per unit. While the target is written straight (plain inserts, or upserts while none of
    /// their keys exist yet) the units share one COPY per table, and a relational target's dimensions
    /// are merged once for all of them: a statement's start and end cost PostgreSQL more than a few
    /// rows do. Otherwise each unit loads as <see cref="LoadAsync"/> loads it. A key that exists
    /// throws <see cref="DirectCopyConflictException"/>, as it does there.
    /// </summary>
    public async Task<IReadOnlyList<UnitLoadResult>> LoadBatchAsync(NpgsqlConnection connection, long importId, IReadOnlyList<UnitDescriptor> units, CancellationToken cancellationToken = default)
    {
        var results = new List<UnitLoadResult>(units.Count);
        if (_table.IsKeyed && !_tryDirect)
        {
            // Direct again only after the whole batch: a unit loaded straight after a staged one in the
            // same transaction would roll back both at its first existing key.
            foreach (var unit in units)
            {
                await using var reading = await _source.OpenAsync(unit, null, cancellationToken);
                results.Add(await LoadOnceAsync(connection, importId, reading, long.MaxValue, staged: true, cancellationToken));
            }
            if (results.TrueForAll(OnlyNewKeys)) _tryDirect = true;
            return results;
        }
        try
        {
            if (_plan is not null) return await LoadRelationalAsync(connection, importId, units, _plan, cancellationToken);
            var now = await TransactionTimeAsync(connection, cancellationToken);
            await using var loader = await CopyLoader.BeginAsync(connection, _table, staged: false, cancellationToken);
            foreach (var unit in units)
            {
                await using var reading = await _source.OpenAsync(unit, null, cancellationToken);
                results.Add(await WriteRecordsAsync(loader, importId, reading, long.MaxValue, now, cancellationToken));
            }
            await loader.CompleteAsync(cancellationToken);
            return results;
        }
        catch (PostgresException e) when (_table.IsKeyed && IsKeyConflict(e))
        {
            throw Conflict($"{units[0].Key} (or another of its batch's {units.Count} units)", e);
        }
    }

    // Every key was new: this looks like a first load again (one file had a duplicate, say).
    private static bool OnlyNewKeys(UnitLoadResult staged) => staged.Counts is { Updated: 0, Unchanged: 0, Inserted: > 0 };

    // A direct COPY met a key that exists (or, loading overlapping keys at once, a deadlock).
    private static bool IsKeyConflict(PostgresException e) => e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DeadlockDetected;

    // This import's upserts stage from now on; the caller rolls back and loads again.
    private DirectCopyConflictException Conflict(string key, PostgresException e)
    {
        _tryDirect = false;
        return new DirectCopyConflictException(key, e);
    }

    private async Task<UnitLoadResult> LoadOnceAsync(NpgsqlConnection connection, long importId, UnitReading unit, long maxRecords, bool staged, CancellationToken cancellationToken)
    {
        if (_plan is not null)
        {
            await using var load = await BeginRelationalAsync(connection, _plan, staged, cancellationToken);
            return await load.MapAsync(importId, unit, maxRecords, last: true, cancellationToken);
        }
        var now = await TransactionTimeAsync(connection, cancellationToken);
        await using var loader = await CopyLoader.BeginAsync(connection, _table, staged, cancellationToken);
        var written = await WriteRecordsAsync(loader, importId, unit, maxRecords, now, cancellationToken);
        return written with { Counts = await loader.CompleteAsync(cancellationToken) };
    }

    // Up to maxRecords of a unit's records, mapped into the open COPY. The counts are a direct COPY's: every row written is inserted.
    private async Task<UnitLoadResult> WriteRecordsAsync(CopyLoader loader, long importId, UnitReading unit, long maxRecords, DateTime now, CancellationToken cancellationToken)
    {
        var rejects = new Rejects(unit, _mapper.FailsOnInvalid);
        var tally = new QualityTally();
        var row = _mapper.CreateRow();
        var facts = new UnitFacts(importId, unit.Info);
        long read = 0, written = 0;
        while (read < maxRecords && await unit.MoveNextAsync(cancellationToken))
        {
            if (unit.Unreadable is { } unreadable) rejects.Add(unit.RecordIndex, unreadable);
            else if (_mapper.TryMap(unit.Current.Span, row, facts, unit.RecordIndex, now, tally, out var reject))
            {
                await loader.WriteAsync(row, cancellationToken);
                written++;
            }
            else rejects.Add(unit.RecordIndex, reject!);
            read++;
        }
        return Result(unit, read, new LoadCounts(written, 0, 0), rejects, tally);
    }

    // A batch's units share one load: one COPY per table per full buffer, each dimension merged once.
    private async Task<IReadOnlyList<UnitLoadResult>> LoadRelationalAsync(NpgsqlConnection connection, long importId, IReadOnlyList<UnitDescriptor> units, LoadPlan plan, CancellationToken cancellationToken)
    {
        await using var load = await BeginRelationalAsync(connection, plan, staged: false, cancellationToken);
        var results = new List<UnitLoadResult>(units.Count);
        foreach (var unit in units)
        {
            await using var reading = await _source.OpenAsync(unit, null, cancellationToken);
            results.Add(await load.MapAsync(importId, reading, long.MaxValue, last: results.Count == units.Count - 1, cancellationToken));
        }
        return results;
    }

    private async Task<SharedRelationalLoad> BeginRelationalAsync(NpgsqlConnection connection, LoadPlan plan, bool staged, CancellationToken cancellationToken)
    {
        var sinks = _sinks.TryTake(out var reused) ? reused : RelationalMapper.CreateSinks(plan);
        try
        {
            var mapper = new RelationalMapper(plan, _mapper.Validator, await TransactionTimeAsync(connection, cancellationToken), sinks: sinks);
            var load = await RelationalLoad.BeginAsync(connection, plan, mapper, direct: !staged, cancellationToken);
            return new SharedRelationalLoad(plan, mapper, load, _mapper.FailsOnInvalid, sinks, _sinks);
        }
        catch
        {
            Return(sinks, _sinks);
            throw;
        }
    }

    private static void Return(RowSink[] sinks, ConcurrentBag<RowSink[]> pool)
    {
        foreach (var sink in sinks) sink.Clear();
        pool.Add(sinks);
    }

    // What a chunk did: its records, counts and rejects, its bytes, and where the unit stands after it.
    private static UnitLoadResult Result(UnitReading unit, long read, LoadCounts counts, Rejects rejects, QualityTally tally, IReadOnlyDictionary<string, LoadCounts>? tables = null) =>
        new(read, counts, rejects.Count, rejects.Kept(unit.RecordIndex + 1), unit.Position - rejects.From.Offset, tables, tally.IsEmpty ? null : tally)
        {
            Checkpoint = unit.Ended ? null : unit.Checkpoint,
        };

    /// <summary>One relational load (a unit's chunk, or a batch's units) and the row buffers it borrowed.</summary>
    private sealed class SharedRelationalLoad(LoadPlan plan, RelationalMapper mapper, RelationalLoad load, bool failsOnInvalid, RowSink[] sinks, ConcurrentBag<RowSink[]> pool) : IAsyncDisposable
    {
        // Up to maxRecords of the unit's records into the load; the last unit of the load completes it.
        public async Task<UnitLoadResult> MapAsync(long importId, UnitReading unit, long maxRecords, bool last, CancellationToken cancellationToken)
        {
            var rejects = new Rejects(unit, failsOnInvalid);
            var tally = new QualityTally();
            var facts = new UnitFacts(importId, unit.Info);
            long read = 0;
            mapper.StartUnit(tally);
            while (read < maxRecords && await unit.MoveNextAsync(cancellationToken))
            {
                if (unit.Unreadable is { } unreadable) rejects.Add(unit.RecordIndex, unreadable);
                else if (!mapper.TryMap(unit.Current.Span, facts, unit.RecordIndex, out var reject)) rejects.Add(unit.RecordIndex, reject!);
                read++;
                await load.FlushIfFullAsync(cancellationToken);
            }
            var tables = last ? await load.CompleteAsync(cancellationToken) : load.UnitCounts();
            return Result(unit, read, tables[plan.Root.Target.Name], rejects, tally, tables);
        }

        public ValueTask DisposeAsync()
        {
            Return(sinks, pool);
            return ValueTask.CompletedTask;
        }
    }

    // now() in SQL: the time the unit's transaction started, which a now() default takes.
    private async Task<DateTime> TransactionTimeAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (_mapper.Validator is null) return default;
        await using var cmd = new NpgsqlCommand("SELECT now()", connection);
        return ((DateTime)(await cmd.ExecuteScalarAsync(cancellationToken))!).ToUniversalTime();
    }

    /// <summary>
    /// A unit's (or chunk's) rejected records: the first <see cref="MaxKeptRejects"/> kept, the rest
    /// counted. With <c>onInvalid: fail</c> the first one fails the unit instead; chunks it committed before stay.
    /// </summary>
    private sealed class Rejects(UnitReading unit, bool fail)
    {
        /// <summary>Where the chunk started: the records before it are committed.</summary>
        public UnitCheckpoint From { get; } = unit.Checkpoint;

        private readonly List<RejectedRecord> _kept = [];

        public long Count { get; private set; }

        // The record is the unit's current one: kept as the file holds it, its reason with its line where the format has lines.
        public void Add(long index, RecordReject reject)
        {
            var reason = unit.WithLine(reject.Reason);
            if (fail)
                throw new SourceDataException(From.Records == 0
                    ? $"{unit.Info.Key}: record {index} is invalid (onInvalid: fail, nothing of this file is loaded): {reason}"
                    : $"{unit.Info.Key}: record {index} is invalid (onInvalid: fail; its first {From.Records} records, committed before, stay loaded): {reason}");
            if (Count++ < MaxKeptRejects) _kept.Add(new RejectedRecord(index, reject.Column, reason, Truncate(unit.Original.Span)));
        }

        public IReadOnlyList<RejectedRecord> Kept(long records) => Count <= MaxKeptRejects
            ? _kept
            : [.. _kept, new RejectedRecord(records, null, $"{Count - MaxKeptRejects} more rejected records in this unit were counted, not kept", "")];

        private static string Truncate(ReadOnlySpan<byte> raw)
        {
            // A UTF-8 character is at most 4 bytes: decode no more than the kept characters can need.
            var text = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, 4 * MaxRawRejectChars)]);
            return text.Length <= MaxRawRejectChars ? text : text[..MaxRawRejectChars];
        }
    }
}
