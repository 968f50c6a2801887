using System.Collections.Concurrent;
using System.Text;
using Ingest.GrainInterfaces;
using Ingest.Engine.Json;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.Engine.Quality;
using Ingest.Engine.Relational;
using Ingest.Engine.Sources;
using Npgsql;

namespace Ingest.Engine;

/// <summary>
/// Loads one unit (one file): source yields records → mapper yields rows (one table, or every
/// table of a relational target) → loader writes them. Runs on the caller's connection and
/// transaction, so the caller commits the rows together with whatever else belongs to the unit.
/// </summary>
public sealed class UnitLoader
{
    /// <summary>Rejected records kept per unit; the rest are counted. Rejects wait in memory until the unit commits.</summary>
    public const int MaxKeptRejects = 10_000;

    private const int MaxRawRejectChars = 16 * 1024;

    private readonly ISource _source;
    private readonly SourceSpec _sourceSpec;
    private readonly TargetTable _table;
    private readonly CheckedMapper _mapper;
    private readonly LoadPlan? _plan;

    // Row buffers of finished units for the next ones. A unit's rows live as long as the unit: long
    // enough for the GC to promote them, so new ones per unit cost the silo more collecting than mapping.
    private readonly ConcurrentBag<RowSink[]> _sinks = [];

    // Whether this import's upserts try the direct COPY: cleared by a conflict, set again by a staged unit (or batch) of only new keys.
    private volatile bool _tryDirect = true;

    public UnitLoader(ISource source, SourceSpec sourceSpec, TargetSpec target)
    {
        _source = source;
        _sourceSpec = sourceSpec;
        _table = new TargetTable(target);
        _mapper = new CheckedMapper(target);
        _plan = target.IsRelational ? new LoadPlan(target) : null;
    }

    public static UnitLoader For(ImportSpec spec) => new(SourceFactory.Create(spec.Source), spec.Source, spec.Target);

    /// <summary>
    /// Loads the unit on the caller's connection, inside the caller's transaction. An upsert is first
    /// tried as a plain COPY into the target (and its child tables): while none of its keys exist
    /// yet (a first load) that is as fast as COPY gets. A key that exists, in the table or twice in
    /// the file, throws <see cref="DirectCopyConflictException"/>: the caller rolls back and loads the
    /// unit again, and this import's units go through staging and merge until one of them finds only
    /// new keys.
    /// </summary>
    public async Task<UnitLoadResult> LoadAsync(NpgsqlConnection connection, long importId, string key, CancellationToken cancellationToken = default)
    {
        if (!_table.IsKeyed) return await LoadOnceAsync(connection, importId, key, staged: false, cancellationToken);
        if (!_tryDirect)
        {
            var staged = await LoadOnceAsync(connection, importId, key, staged: true, cancellationToken);
            if (OnlyNewKeys(staged)) _tryDirect = true;
            return staged;
        }
        try
        {
            return await LoadOnceAsync(connection, importId, key, staged: false, cancellationToken);
        }
        catch (PostgresException e) when (IsKeyConflict(e))
        {
            throw Conflict(key, e);
        }
    }

    /// <summary>
    /// Loads a batch of small units on the caller's connection, inside the caller's transaction, one
    /// result per key. While the target is written straight (plain inserts, or upserts while none of
    /// their keys exist yet) the units share one COPY per table, and a relational target's dimensions
    /// are merged once for all of them: a statement's start and end cost PostgreSQL more than a few
    /// rows do. Otherwise each unit loads as <see cref="LoadAsync"/> loads it. A key that exists
    /// throws <see cref="DirectCopyConflictException"/>, as it does there.
    /// </summary>
    public async Task<IReadOnlyList<UnitLoadResult>> LoadBatchAsync(NpgsqlConnection connection, long importId, IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        var results = new List<UnitLoadResult>(keys.Count);
        if (_table.IsKeyed && !_tryDirect)
        {
            // Direct again only after the whole batch: a unit loaded straight after a staged one in the
            // same transaction would roll back both at its first existing key.
            foreach (var key in keys) results.Add(await LoadOnceAsync(connection, importId, key, staged: true, cancellationToken));
            if (results.TrueForAll(OnlyNewKeys)) _tryDirect = true;
            return results;
        }
        try
        {
            if (_plan is not null) return await LoadRelationalAsync(connection, importId, keys, _plan, staged: false, cancellationToken);
            var now = await TransactionTimeAsync(connection, cancellationToken);
            await using var loader = await CopyLoader.BeginAsync(connection, _table, staged: false, cancellationToken);
            foreach (var key in keys) results.Add(await WriteRecordsAsync(loader, importId, key, now, cancellationToken));
            await loader.CompleteAsync(cancellationToken);
            return results;
        }
        catch (PostgresException e) when (_table.IsKeyed && IsKeyConflict(e))
        {
            throw Conflict($"{keys[0]} (or another of its batch's {keys.Count} units)", e);
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

    private async Task<UnitLoadResult> LoadOnceAsync(NpgsqlConnection connection, long importId, string key, bool staged, CancellationToken cancellationToken) =>
        _plan is null
            ? await LoadFlatAsync(connection, importId, key, staged, cancellationToken)
            : (await LoadRelationalAsync(connection, importId, [key], _plan, staged, cancellationToken))[0];

    private async Task<UnitLoadResult> LoadFlatAsync(NpgsqlConnection connection, long importId, string key, bool staged, CancellationToken cancellationToken)
    {
        var now = await TransactionTimeAsync(connection, cancellationToken);
        await using var loader = await CopyLoader.BeginAsync(connection, _table, staged, cancellationToken);
        var written = await WriteRecordsAsync(loader, importId, key, now, cancellationToken);
        return written with { Counts = await loader.CompleteAsync(cancellationToken) };
    }

    // One unit's records, mapped into the open COPY. The counts are a direct COPY's: every row written is inserted.
    private async Task<UnitLoadResult> WriteRecordsAsync(CopyLoader loader, long importId, string key, DateTime now, CancellationToken cancellationToken)
    {
        var rejects = new Rejects(key, _mapper.FailsOnInvalid);
        var tally = new QualityTally();
        var row = _mapper.CreateRow();
        var reader = new JsonRecordReader(key, _sourceSpec.Records, SourceFactory.IsNdjson(key));
        long index = 0, written = 0;

        await using var opened = await _source.OpenAsync(key, cancellationToken);
        var facts = new UnitFacts(importId, opened.Info);
        await foreach (var record in reader.ReadAsync(opened.Content, cancellationToken))
        {
            if (_mapper.TryMap(record.Span, row, facts, index, now, tally, out var reject))
            {
                await loader.WriteAsync(row, cancellationToken);
                written++;
            }
            else rejects.Add(index, reject!, record.Span);
            index++;
        }
        return new UnitLoadResult(index, new LoadCounts(written, 0, 0), rejects.Count, rejects.Kept(index), reader.BytesRead, Quality: tally.IsEmpty ? null : tally);
    }

    // The units share one load; a staged load takes one unit, whose counts its merge tells.
    private async Task<IReadOnlyList<UnitLoadResult>> LoadRelationalAsync(NpgsqlConnection connection, long importId, IReadOnlyList<string> keys, LoadPlan plan, bool staged, CancellationToken cancellationToken)
    {
        if (staged && keys.Count > 1) throw new ArgumentException("a staged load takes one unit", nameof(keys));
        var sinks = _sinks.TryTake(out var reused) ? reused : RelationalMapper.CreateSinks(plan);
        try
        {
            var mapper = new RelationalMapper(plan, _mapper.Validator, await TransactionTimeAsync(connection, cancellationToken), sinks: sinks);
            var load = await RelationalLoad.BeginAsync(connection, plan, mapper, direct: !staged, cancellationToken);
            var results = new List<UnitLoadResult>(keys.Count);
            foreach (var key in keys)
            {
                var rejects = new Rejects(key, _mapper.FailsOnInvalid);
                var tally = new QualityTally();
                var reader = new JsonRecordReader(key, _sourceSpec.Records, SourceFactory.IsNdjson(key));
                long index = 0;
                mapper.StartUnit(tally);
                await using (var opened = await _source.OpenAsync(key, cancellationToken))
                {
                    var facts = new UnitFacts(importId, opened.Info);
                    await foreach (var record in reader.ReadAsync(opened.Content, cancellationToken))
                    {
                        if (!mapper.TryMap(record.Span, facts, index, out var reject)) rejects.Add(index, reject!, record.Span);
                        index++;
                        await load.FlushIfFullAsync(cancellationToken);
                    }
                }
                var tables = results.Count == keys.Count - 1 ? await load.CompleteAsync(cancellationToken) : load.UnitCounts();
                results.Add(new UnitLoadResult(index, tables[plan.Root.Target.Name], rejects.Count, rejects.Kept(index), reader.BytesRead, tables, tally.IsEmpty ? null : tally));
            }
            return results;
        }
        finally
        {
            foreach (var sink in sinks) sink.Clear();
            _sinks.Add(sinks);
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
    /// A unit's rejected records: the first <see cref="MaxKeptRejects"/> kept, the rest counted.
    /// With <c>onInvalid: fail</c> the first one fails the unit instead.
    /// </summary>
    private sealed class Rejects(string key, bool fail)
    {
        private readonly List<RejectedRecord> _kept = [];

        public long Count { get; private set; }

        public void Add(long index, RecordReject reject, ReadOnlySpan<byte> raw)
        {
            if (fail) throw new SourceDataException($"{key}: record {index} is invalid (onInvalid: fail, nothing of this file is loaded): {reject.Reason}");
            if (Count++ < MaxKeptRejects) _kept.Add(new RejectedRecord(index, reject.Column, reject.Reason, Truncate(raw)));
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
