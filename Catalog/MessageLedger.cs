using Npgsql;

namespace Ingest.Catalog;

/// <summary>
/// The ids of the messages a queue's imports committed (<c>ingest.message_ledger</c>), per
/// (import name, queue): what makes a redelivery, or a repeated id, load once.
/// </summary>
public static class MessageLedger
{
    /// <summary>
    /// Inside the batch's transaction, records each id with its delivery (the first message's, for an
    /// id the batch holds twice) and returns what the ledger holds for every id of the batch: the
    /// delivery that committed it, and whether that is this batch. The batch loads only the messages of
    /// its new ids. An id another consumer's open transaction has just recorded waits for it to end,
    /// then counts as there if it committed. Ids are written in one order, so two batches holding
    /// the same ids cannot deadlock on them.
    /// </summary>
    public static async Task<Dictionary<string, (string Delivery, bool New)>> RecordAsync(NpgsqlConnection connection, string importName, string queue, long importId,
        IEnumerable<(string Id, string Delivery)> messages, CancellationToken cancellationToken = default)
    {
        var first = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (id, delivery) in messages) first.TryAdd(id, delivery);
        var ledger = new Dictionary<string, (string, bool)>(StringComparer.Ordinal);
        if (first.Count == 0) return ledger;
        var ids = first.Keys.Order(StringComparer.Ordinal).ToArray();
        await using (var cmd = new NpgsqlCommand(
            """
            INSERT INTO ingest.message_ledger (import_name, queue, message_id, delivery, import_id)
            SELECT $1, $2, m.id, m.delivery, $3 FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS m(id, delivery, n) ORDER BY n
            ON CONFLICT DO NOTHING
            RETURNING message_id, delivery
            """, connection))
        {
            cmd.Parameters.AddWithValue(importName);
            cmd.Parameters.AddWithValue(queue);
            cmd.Parameters.AddWithValue(importId);
            cmd.Parameters.AddWithValue(ids);
            cmd.Parameters.AddWithValue(ids.Select(id => first[id]).ToArray());
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken)) ledger[r.GetString(0)] = (r.GetString(1), true);
        }
        if (ledger.Count == ids.Length) return ledger;
        await using var known = new NpgsqlCommand(
            "SELECT message_id, delivery FROM ingest.message_ledger WHERE import_name = $1 AND queue = $2 AND message_id = ANY($3)", connection);
        known.Parameters.AddWithValue(importName);
        known.Parameters.AddWithValue(queue);
        known.Parameters.AddWithValue(ids.Where(id => !ledger.ContainsKey(id)).ToArray());
        await using (var r = await known.ExecuteReaderAsync(cancellationToken))
            while (await r.ReadAsync(cancellationToken)) ledger[r.GetString(0)] = (r.GetString(1), false);
        return ledger;
    }

    /// <summary>
    /// Inside the batch's transaction, records the deliveries it skips as duplicates and returns
    /// those recorded already: skipped by a batch that committed, so one of them flagged redelivered
    /// is that skip delivered again after a crash before its ack, not another duplicate.
    /// </summary>
    public static async Task<HashSet<string>> RecordSkipsAsync(NpgsqlConnection connection, string importName, string queue,
        IEnumerable<string> deliveries, CancellationToken cancellationToken = default)
    {
        var known = new HashSet<string>(deliveries, StringComparer.Ordinal);
        if (known.Count == 0) return known;
        await using var cmd = new NpgsqlCommand(
            """
            INSERT INTO ingest.message_skips (import_name, queue, delivery)
            SELECT $1, $2, d FROM unnest($3::text[]) AS d ORDER BY d
            ON CONFLICT DO NOTHING
            RETURNING delivery
            """, connection);
        cmd.Parameters.AddWithValue(importName);
        cmd.Parameters.AddWithValue(queue);
        cmd.Parameters.AddWithValue(known.Order(StringComparer.Ordinal).ToArray());
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) known.Remove(r.GetString(0));
        return known;
    }

    /// <summary>Forgets the ids committed, and the duplicates skipped, more than <paramref name="hours"/> ago; returns how many ids.</summary>
    public static async Task<int> PruneAsync(NpgsqlDataSource dataSource, string importName, string queue, double hours, CancellationToken cancellationToken = default)
    {
        // One consumer of the queue prunes at a time; the others, starting together, leave it to that one.
        await using var cmd = dataSource.CreateCommand(
            """
            WITH ours AS (SELECT pg_try_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0)) AS got),
            skips AS (DELETE FROM ingest.message_skips WHERE (SELECT got FROM ours) AND import_name = $1 AND queue = $2 AND committed_at < now() - make_interval(secs => $3 * 3600))
            DELETE FROM ingest.message_ledger WHERE (SELECT got FROM ours) AND import_name = $1 AND queue = $2 AND committed_at < now() - make_interval(secs => $3 * 3600)
            """);
        cmd.Parameters.AddWithValue(importName);
        cmd.Parameters.AddWithValue(queue);
        cmd.Parameters.AddWithValue(hours);
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
