using Npgsql;

namespace Ingest.Catalog;

/// <summary>
/// The dispatchers' side of the outbox (<c>ingest.events</c> with a payload; triggers write them in
/// the transactions that change states, see <c>sql/021_event_outbox.sql</c>): which imports have
/// events to send, an import's unsent events in order, and marking one sent (or given up, after its
/// last error). One dispatcher at a time per import, by a session-level advisory lock, so that its
/// events go out in order.
/// </summary>
public static class Outbox
{
    /// <summary>An event to publish: its payload with its id, for the import's notify targets (JSON); <paramref name="At"/> when it was written.</summary>
    public sealed record Event(long Id, string Kind, bool IsUnit, string Payload, string Notify, DateTimeOffset At);

    /// <summary>The condition (on <c>ingest.events</c> as <c>e</c>) of an event still to publish.</summary>
    public const string Unsent = "e.payload IS NOT NULL AND e.sent_at IS NULL AND e.given_up_at IS NULL";

    // The first key of the dispatchers' advisory locks (the second is the import's id, folded into an int: imports that share one wait for each other).
    private const int DispatchLock = 0x1A6E58;

    /// <summary>Imports with events not sent yet.</summary>
    public static async Task<IReadOnlyList<long>> PendingImportsAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT DISTINCT e.import_id FROM ingest.events e WHERE {Unsent}");
        var ids = new List<long>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) ids.Add(r.GetInt64(0));
        return ids;
    }

    /// <summary>Takes the import's events for this session; false when another dispatcher has them.</summary>
    public static async Task<bool> TryLockAsync(NpgsqlConnection connection, long importId, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_try_advisory_lock($1, ($2 % 2147483647)::int)", connection);
        cmd.Parameters.AddWithValue(DispatchLock);
        cmd.Parameters.AddWithValue(importId);
        return (bool)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    public static async Task UnlockAsync(NpgsqlConnection connection, long importId, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_advisory_unlock($1, ($2 % 2147483647)::int)", connection);
        cmd.Parameters.AddWithValue(DispatchLock);
        cmd.Parameters.AddWithValue(importId);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The import's unsent events, oldest first.</summary>
    public static async Task<IReadOnlyList<Event>> UnsentAsync(NpgsqlConnection connection, long importId, int most, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT e.id, e.kind, e.unit_no IS NOT NULL, (jsonb_build_object('eventId', e.id) || e.payload)::text, coalesce(i.spec->'notify', '[]')::text, e.at
            FROM ingest.events e JOIN ingest.imports i ON i.id = e.import_id
            WHERE e.import_id = $1 AND {Unsent}
            ORDER BY e.id
            LIMIT $2
            """, connection);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(most);
        var events = new List<Event>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) events.Add(new Event(r.GetInt64(0), r.GetString(1), r.GetBoolean(2), r.GetString(3), r.GetString(4), r.GetFieldValue<DateTimeOffset>(5)));
        return events;
    }

    /// <summary>Marks an event sent (after every target took it): it is not published again.</summary>
    public static async Task MarkSentAsync(NpgsqlConnection connection, long eventId, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand("UPDATE ingest.events SET sent_at = now() WHERE id = $1", connection);
        cmd.Parameters.AddWithValue(eventId);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records why an event could not be published; with <paramref name="giveUp"/>, it is given up:
    /// kept with its error, never published, and no longer holding back the import's later events.
    /// </summary>
    public static async Task FailedAsync(NpgsqlConnection connection, long eventId, string error, bool giveUp, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(
            "UPDATE ingest.events SET publish_error = $2, given_up_at = CASE WHEN $3 THEN now() END WHERE id = $1", connection);
        cmd.Parameters.AddWithValue(eventId);
        cmd.Parameters.AddWithValue(error);
        cmd.Parameters.AddWithValue(giveUp);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
