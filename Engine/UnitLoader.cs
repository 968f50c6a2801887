using System.Text;
using Ingest.GrainInterfaces;
using Ingest.Engine.Json;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.Engine.Sources;
using Npgsql;

namespace Ingest.Engine;

/// <summary>
/// Loads one unit (one file) into the target table: source yields records → mapper yields rows
/// → loader writes the batch. Runs on the caller's connection and transaction, so the caller
/// commits the rows together with whatever else belongs to the unit.
/// </summary>
public sealed class UnitLoader(ISource source, SourceSpec sourceSpec, TargetTable table)
{
    /// <summary>Rejected records kept per unit; the rest are counted. Rejects wait in memory until the unit commits.</summary>
    public const int MaxKeptRejects = 10_000;

    private const int MaxRawRejectChars = 16 * 1024;

    private readonly RecordMapper _mapper = new(table.Spec.Columns, table.Spec.Key);

    // Whether this import's upserts try the direct COPY: cleared by a conflict, set again by a staged unit of only new keys.
    private volatile bool _tryDirect = true;

    public static UnitLoader For(ImportSpec spec) =>
        new(SourceFactory.Create(spec.Source), spec.Source, new TargetTable(spec.Target));

    public ISource Source => source;

    public TargetTable Table => table;

    /// <summary>
    /// Loads the unit on the caller's connection, inside the caller's transaction. An upsert is first
    /// tried as a plain COPY into the target: while none of its keys exist yet (a first load) that is
    /// as fast as COPY gets. A key that exists, in the table or twice in the file, throws
    /// <see cref="DirectCopyConflictException"/>: the caller rolls back and loads the unit again, and
    /// this import's units go through staging and merge until one of them finds only new keys.
    /// </summary>
    public async Task<UnitLoadResult> LoadAsync(NpgsqlConnection connection, string key, CancellationToken cancellationToken = default)
    {
        if (!table.IsKeyed) return await LoadOnceAsync(connection, key, staged: false, cancellationToken);
        if (!_tryDirect)
        {
            var staged = await LoadOnceAsync(connection, key, staged: true, cancellationToken);
            // Every key was new: this looks like a first load again (one file had a duplicate, say).
            if (staged.Counts is { Updated: 0, Unchanged: 0, Inserted: > 0 }) _tryDirect = true;
            return staged;
        }
        try
        {
            return await LoadOnceAsync(connection, key, staged: false, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DeadlockDetected)
        {
            _tryDirect = false;
            throw new DirectCopyConflictException(key, e);
        }
    }

    private async Task<UnitLoadResult> LoadOnceAsync(NpgsqlConnection connection, string key, bool staged, CancellationToken cancellationToken)
    {
        var rejects = new List<RejectedRecord>();
        var row = _mapper.CreateRow();
        var reader = new JsonRecordReader(key, sourceSpec.Records, SourceFactory.IsNdjson(key));
        long index = 0, rejected = 0;

        await using var stream = await source.OpenAsync(key, cancellationToken);
        await using var loader = await CopyLoader.BeginAsync(connection, table, staged, cancellationToken);
        await foreach (var record in reader.ReadAsync(stream, cancellationToken))
        {
            if (_mapper.TryMap(record.Span, row, out var reject))
                await loader.WriteAsync(row, cancellationToken);
            else if (rejected++ < MaxKeptRejects)
                rejects.Add(new RejectedRecord(index, reject!.Column, reject.Reason, Truncate(record.Span)));
            index++;
        }
        var counts = await loader.CompleteAsync(cancellationToken);
        if (rejected > MaxKeptRejects)
            rejects.Add(new RejectedRecord(index, null, $"{rejected - MaxKeptRejects} more rejected records in this unit were counted, not kept", ""));
        return new UnitLoadResult(index, counts, rejected, rejects, reader.BytesRead);
    }

    private static string Truncate(ReadOnlySpan<byte> raw)
    {
        // A UTF-8 character is at most 4 bytes: decode no more than the kept characters can need.
        var text = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, 4 * MaxRawRejectChars)]);
        return text.Length <= MaxRawRejectChars ? text : text[..MaxRawRejectChars];
    }
}
