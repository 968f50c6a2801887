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

    // Whether this import's units take the rows of a source that can send them as the target's COPY
    // rows (RowRelay): cleared by a row the mapper would reject.
    private volatile bool _relay = true;

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

    /// <summary>Opens a unit to be loaded here: its rows as the target's COPY rows where the source can send them so (<see cref="UnitReading.Encoded"/>).</summary>
    public Task<UnitReading> OpenAsync(UnitDescriptor unit, UnitCheckpoint? checkpoint, CancellationToken cancellationToken = default) =>
        _source.OpenAsync(unit, checkpoint, _relay, cancellationToken);

    /// <summary>
    /// Loads the next records of <paramref name="unit"/>, at most <paramref name="maxRecords"/>, on
    /// the caller's connection, inside the caller's transaction. An upsert is first
    /// tried as a plain COPY into the target (and its child tables): while none of its keys exist
    /// yet (a first load) that is as fast as COPY gets. A key met twice in the chunk does not leave
    /// that path: the later records are set aside and merged after the COPY (<see cref="RepeatedKeys"/>).
    /// A key that exists in the table throws <see cref="DirectCopyConflictException"/>: the caller
    /// rolls back and loads the unit again from its last checkpoint, and this import's units go
    /// through staging and merge until one of them finds only new keys.
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
    /// <param name="fetched">The units opened already, in order (pages fetched before the transaction opened); each is read through a <see cref="UnitReading.Replay"/>, so that a batch loaded again reads them again.</param>
    public async Task<IReadOnlyList<UnitLoadResult>> LoadBatchAsync(NpgsqlConnection connection, long importId, IReadOnlyList<UnitDescriptor> units,
        IReadOnlyList<UnitReading>? fetched = null, CancellationToken cancellationToken = default)
    {
        async Task<UnitReading> OpenAsync(int i) => fetched?[i].Replay() ?? await this.OpenAsync(units[i], null, cancellationToken);
        var results = new List<UnitLoadResult>(units.Count);
        if (_table.IsKeyed && !_tryDirect)
        {
            // Direct again only after the whole batch: a unit loaded straight after a staged one in the
            // same transaction would roll back both at its first existing key.
            for (var i = 0; i < units.Count; i++)
            {
                await using var reading = await OpenAsync(i);
                results.Add(await LoadOnceAsync(connection, importId, reading, long.MaxValue, staged: true, cancellationToken));
            }
            if (results.TrueForAll(OnlyNewKeys)) _tryDirect = true;
            return results;
        }
        var repeats = TakeRepeats();
        try
        {
            if (_plan is not null) return await LoadRelationalAsync(connection, importId, units, OpenAsync, _plan, repeats, cancellationToken);
            var now = await TransactionTimeAsync(connection, cancellationToken);
            var facts = new List<UnitFacts>(units.Count);
            await using (var loader = await CopyLoader.BeginAsync(connection, _table, staged: false, cancellationToken: cancellationToken))
            {
                for (var i = 0; i < units.Count; i++)
                {
                    await using var reading = await OpenAsync(i);
                    facts.Add(new UnitFacts(importId, reading.Info, reading.Messages));
                    results.Add(await WriteRecordsAsync(loader, facts[^1], reading, long.MaxValue, now, repeats, results.Count + 1, cancellationToken));
                }
                await loader.CompleteAsync(cancellationToken);
            }
            return await LoadSetAsideAsync(connection, repeats, facts, results, cancellationToken);
        }
        catch (PostgresException e) when (_table.IsKeyed && IsKeyConflict(e))
        {
            throw Conflict($"{units[0].Key} (or another of its batch's {units.Count} units)", e);
        }
        finally
        {
            Return(repeats);
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
        var repeats = staged ? null : TakeRepeats();
        try
        {
            var facts = new UnitFacts(importId, unit.Info, unit.Messages);
            UnitLoadResult result;
            if (_plan is not null)
            {
                await using var load = await BeginRelationalAsync(connection, _plan, staged, repeats, replaces: false, cancellationToken);
                result = await load.MapAsync(facts, unit, maxRecords, last: true, cancellationToken);
            }
            else
            {
                var now = await TransactionTimeAsync(connection, cancellationToken);
                await using var loader = await CopyLoader.BeginAsync(connection, _table, staged, cancellationToken: cancellationToken);
                var written = await WriteRecordsAsync(loader, facts, unit, maxRecords, now, repeats, unitInLoad: 1, cancellationToken);
                result = written with { Counts = await loader.CompleteAsync(cancellationToken) };
            }
            return (await LoadSetAsideAsync(connection, repeats, [facts], [result], cancellationToken))[0];
        }
        finally
        {
            Return(repeats);
        }
    }

    // Up to maxRecords of a unit's records, mapped into the open COPY, but those set aside as repeats.
    // The counts are a direct COPY's: every row written is inserted.
    private async Task<UnitLoadResult> WriteRecordsAsync(CopyLoader loader, UnitFacts facts, UnitReading unit, long maxRecords, DateTime now, RepeatedKeys? repeats, int unitInLoad, CancellationToken cancellationToken)
    {
        var rejects = new Rejects(unit, _mapper.FailsOnInvalid);
        var tally = new QualityTally();
        var row = _mapper.CreateRow();
        var cursor = RecordCursor.For(_source.Spec.Cursor);
        // A CSV row goes from its fields to the row; its JSON is written only if asked for (a repeat set aside).
        var fields = unit.Fields;
        var slots = fields is not null ? _mapper.FieldSlots(fields) : null;
        if (slots is not null) fields!.DeferJson();
        long read = 0, written = 0;
        while (read < maxRecords && await unit.MoveNextAsync(cancellationToken))
        {
            if (unit.Encoded)
            {
                // A row of the target's COPY as the source sent it: nothing to map.
                if (NullKey(unit.Current.Span) is { } column)
                {
                    _relay = false;
                    throw new RelayDeclinedException(unit.Info.Key, column);
                }
                await loader.WriteAsync(unit.Current, cancellationToken);
                read++;
                written++;
                continue;
            }
            foreach (var column in unit.Nulled) tally.Violated($"zeroDate.{column}");
            if (unit.Unreadable is { } unreadable) rejects.Add(unit.RecordIndex, unreadable);
            else
            {
                cursor?.Observe(unit.CursorSource);
                var mapped = slots is not null
                    ? _mapper.TryMap(fields!, slots, row, facts, unit.RecordIndex, now, tally, out var reject)
                    : _mapper.TryMap(unit.Current.Span, row, facts, unit.RecordIndex, now, tally, out reject);
                if (!mapped) rejects.Add(unit.RecordIndex, reject!);
                else if (repeats is null || !repeats.Repeats(row, _table.KeyColumns, unitInLoad, out var replaces)
                                         || !repeats.SetAside(unitInLoad, unit.RecordIndex, replaces, unit.Current.Span))
                {
                    await loader.WriteAsync(row, cancellationToken);
                    written++;
                }
            }
            read++;
        }
        return Result(unit, read, new LoadCounts(written, 0, 0), rejects, tally, cursor);
    }

    // The first key column without a value in a row of the target's COPY; null when all have one.
    private string? NullKey(ReadOnlySpan<byte> tuple)
    {
        foreach (var k in _table.KeyColumns)
            if (Sources.Sql.CopyTuples.IsNull(tuple, k)) return _table.Columns[k].Name;
        return null;
    }

    // A batch's units share one load: one COPY per table per full buffer, each dimension merged once.
    private async Task<IReadOnlyList<UnitLoadResult>> LoadRelationalAsync(NpgsqlConnection connection, long importId, IReadOnlyList<UnitDescriptor> units, Func<int, Task<UnitReading>> open,
        LoadPlan plan, RepeatedKeys? repeats, CancellationToken cancellationToken)
    {
        var results = new List<UnitLoadResult>(units.Count);
        var facts = new List<UnitFacts>(units.Count);
        await using (var load = await BeginRelationalAsync(connection, plan, staged: false, repeats, replaces: false, cancellationToken))
        {
            for (var i = 0; i < units.Count; i++)
            {
                await using var reading = await open(i);
                facts.Add(new UnitFacts(importId, reading.Info, reading.Messages));
                results.Add(await load.MapAsync(facts[^1], reading, long.MaxValue, last: results.Count == units.Count - 1, cancellationToken));
            }
        }
        return await LoadSetAsideAsync(connection, repeats, facts, results, cancellationToken);
    }

    /// <summary>
    /// After a direct load, each unit's records set aside as repeats (<see cref="RepeatedKeys"/>),
    /// merged in unit order in the same transaction, their counts added to the unit's: a flat
    /// target's as arrays in one statement, a relational target's staged.
    /// </summary>
    private async Task<IReadOnlyList<UnitLoadResult>> LoadSetAsideAsync(NpgsqlConnection connection, RepeatedKeys? repeats, IReadOnlyList<UnitFacts> facts, List<UnitLoadResult> results, CancellationToken cancellationToken)
    {
        if (repeats is not { Count: > 0 }) return results;
        var now = _plan is null ? await TransactionTimeAsync(connection, cancellationToken) : default; // a relational load's mapper takes its own
        for (var i = 0; i < results.Count; i++)
        foreach (var (replaces, records) in repeats.Groups(unit: i + 1))
        {
            if (_plan is null)
            {
                results[i] = results[i].Adding(await MergeSetAsideAsync(connection, facts[i], records, replaces, now, cancellationToken));
                continue;
            }
            await using var load = await BeginRelationalAsync(connection, _plan, staged: true, repeats: null, replaces, cancellationToken);
            var tables = await load.MapSetAsideAsync(facts[i], records, cancellationToken);
            results[i] = results[i].Adding(tables[_plan.Root.Target.Name], tables);
        }
        return results;
    }

    // A flat target's records set aside, sent as arrays: a unit's own keys overwritten with their last
    // occurrence (earlier ones counted unchanged), or an earlier unit's keys upserted.
    private async Task<LoadCounts> MergeSetAsideAsync(NpgsqlConnection connection, UnitFacts facts, IReadOnlyList<SetAsideRecord> records, bool replaces, DateTime now, CancellationToken cancellationToken)
    {
        var rows = new List<MappedRow>(records.Count);
        var row = _mapper.CreateRow();
        foreach (var record in records)
            // Mapped and checked once already (its quality counted then): it maps the same again.
            if (_mapper.TryMap(record.Json.Span, row, facts, record.Index, now, new QualityTally(), out _)) rows.Add(row.Clone());
        var sql = replaces ? StagedMerge.Replace(_table, StagedMerge.Unnest(_table)) : StagedMerge.Sql(_table, StagedMerge.Unnest(_table));
        if (sql is null) return new LoadCounts(0, 0, rows.Count);
        await using var cmd = new NpgsqlCommand(sql, connection);
        cmd.Parameters.AddRange(RowArrays.Of(rows, _table.Columns.Select(c => c.Type).ToArray(), [.. Enumerable.Range(0, rows.Count).Select(i => (long)i)]).ToArray());
        if (replaces)
        {
            await cmd.ExecuteNonQueryAsync(cancellationToken);
            return new LoadCounts(0, 0, rows.Count);
        }
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var (inserted, updated) = (reader.GetInt64(1), reader.GetInt64(2));
        return new LoadCounts(inserted, updated, rows.Count - inserted - updated);
    }

    // Repeated keys are taken on the fast path of an upsert: a direct load of a keyed target (or root).
    private RepeatedKeys? TakeRepeats() =>
        !(_plan?.Root.Target ?? _table).IsKeyed ? null : RepeatedKeys.Rent();

    private static void Return(RepeatedKeys? repeats)
    {
        if (repeats is not null) RepeatedKeys.Return(repeats);
    }

    private async Task<SharedRelationalLoad> BeginRelationalAsync(NpgsqlConnection connection, LoadPlan plan, bool staged, RepeatedKeys? repeats, bool replaces, CancellationToken cancellationToken)
    {
        var sinks = _sinks.TryTake(out var reused) ? reused : RelationalMapper.CreateSinks(plan);
        try
        {
            var mapper = new RelationalMapper(plan, _mapper.Validator, await TransactionTimeAsync(connection, cancellationToken), sinks: sinks)
            {
                Repeats = staged ? null : repeats,
            };
            var load = await RelationalLoad.BeginAsync(connection, plan, mapper, direct: !staged, replaces, cancellationToken);
            return new SharedRelationalLoad(plan, mapper, load, _mapper.FailsOnInvalid, sinks, _sinks, _source.Spec.Cursor);
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

    // What a chunk did: its records, counts and rejects, its bytes, where the unit stands after it (or the version it read to its end), and its greatest cursor.
    private static UnitLoadResult Result(UnitReading unit, long read, LoadCounts counts, Rejects rejects, QualityTally tally, RecordCursor? cursor,
        IReadOnlyDictionary<string, LoadCounts>? tables = null) =>
        new(read, counts, rejects.Count, rejects.Kept(unit.RecordIndex + 1), unit.Position - rejects.From.Offset, tables, tally.IsEmpty ? null : tally)
        {
            Checkpoint = unit.Ended ? null : unit.Checkpoint,
            Version = unit.Version,
            Cursor = cursor?.Greatest,
        };

    /// <summary>One relational load (a unit's chunk, or a batch's units) and the row buffers it borrowed.</summary>
    private sealed class SharedRelationalLoad(LoadPlan plan, RelationalMapper mapper, RelationalLoad load, bool failsOnInvalid, RowSink[] sinks, ConcurrentBag<RowSink[]> pool,
        CursorSpec? cursorSpec) : IAsyncDisposable
    {
        // Up to maxRecords of the unit's records into the load; the last unit of the load completes it.
        public async Task<UnitLoadResult> MapAsync(UnitFacts facts, UnitReading unit, long maxRecords, bool last, CancellationToken cancellationToken)
        {
            var cursor = RecordCursor.For(cursorSpec);
            var rejects = new Rejects(unit, failsOnInvalid);
            var tally = new QualityTally();
            long read = 0;
            mapper.StartUnit(tally);
            while (read < maxRecords && await unit.MoveNextAsync(cancellationToken))
            {
                // False without a reject: set aside, its root key repeating one this load wrote.
                foreach (var column in unit.Nulled) tally.Violated($"zeroDate.{column}");
                if (unit.Unreadable is { } unreadable) rejects.Add(unit.RecordIndex, unreadable);
                else
                {
                    cursor?.Observe(unit.CursorSource);
                    if (!mapper.TryMap(unit.Current.Span, facts, unit.RecordIndex, out var reject) && reject is not null) rejects.Add(unit.RecordIndex, reject);
                }
                read++;
                await load.FlushIfFullAsync(cancellationToken);
            }
            var tables = last ? await load.CompleteAsync(cancellationToken) : load.UnitCounts();
            return Result(unit, read, tables[plan.Root.Target.Name], rejects, tally, cursor, tables);
        }

        // Records a direct load set aside, mapped and checked once already (their quality counted then).
        public async Task<IReadOnlyDictionary<string, LoadCounts>> MapSetAsideAsync(UnitFacts facts, IReadOnlyList<SetAsideRecord> records, CancellationToken cancellationToken)
        {
            mapper.StartUnit(new QualityTally());
            foreach (var record in records)
            {
                mapper.TryMap(record.Json.Span, facts, record.Index, out _);
                await load.FlushIfFullAsync(cancellationToken);
            }
            return await load.CompleteAsync(cancellationToken);
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
            {
                var (name, first) = (unit.Unit.Name, unit.Unit.First.Records);
                throw new SourceDataException(From.Records == first
                    ? $"{name}: record {index} is invalid (onInvalid: fail, nothing of this {(unit.Unit.Range is null ? "file" : "range")} is loaded): {reason}"
                    : $"{name}: record {index} is invalid (onInvalid: fail; the {From.Records - first} records before it, committed before, stay loaded): {reason}");
            }
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
