using Npgsql;

namespace Ingest.Catalog;

/// <summary>
/// Imports heard as they come and go: the catalog notifies <see cref="Submitted"/> with an import's
/// id when it is stored, and <see cref="Ended"/> when it ends (sql/014). A listener wakes at a
/// notification instead of at its next poll, and still polls: a notification missed while its
/// connection was away costs one poll at most.
/// </summary>
public sealed class ImportNotifications : IAsyncDisposable
{
    public const string Submitted = "ingest_import_submitted";
    public const string Ended = "ingest_import_ended";

    private readonly List<long> _heard = [];
    private NpgsqlConnection? _connection;

    private ImportNotifications(NpgsqlConnection? connection)
    {
        _connection = connection;
        if (connection is not null)
            connection.Notification += (_, e) => { if (long.TryParse(e.Payload, out var id)) _heard.Add(id); };
    }

    /// <summary>Whether notifications still arrive; false once the connection broke (waits then merely poll).</summary>
    public bool Listening => _connection is not null;

    /// <summary>Listens to <paramref name="channel"/> on a connection of its own; without one (the database went away), waits merely poll.</summary>
    public static async Task<ImportNotifications> ListenAsync(NpgsqlDataSource dataSource, string channel, CancellationToken cancellationToken = default)
    {
        NpgsqlConnection? connection = null;
        try
        {
            connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var listen = new NpgsqlCommand($"LISTEN {channel}", connection);
            await listen.ExecuteNonQueryAsync(cancellationToken);
            return new ImportNotifications(connection);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
        {
            if (connection is not null) await connection.DisposeAsync();
            return new ImportNotifications(null);
        }
    }

    /// <summary>Waits until a notification arrives or <paramref name="poll"/> passes; returns the import ids heard since the last call.</summary>
    public async Task<IReadOnlyList<long>> WaitAsync(TimeSpan poll, CancellationToken cancellationToken = default)
    {
        if (_heard.Count == 0)
        {
            if (_connection is null) await Task.Delay(poll, cancellationToken);
            else
            {
                try
                {
                    await _connection.WaitAsync(poll, cancellationToken);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
                {
                    await _connection.DisposeAsync();
                    _connection = null;
                }
            }
        }
        long[] heard = [.. _heard];
        _heard.Clear();
        return heard;
    }

    public ValueTask DisposeAsync() => _connection?.DisposeAsync() ?? ValueTask.CompletedTask;
}
