using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingest.Cluster;

/// <summary>
/// Tells nodes at once that there is something to plan or claim (an import was submitted or
/// resumed), through PostgreSQL's LISTEN/NOTIFY. Only a shortcut: nodes also look every
/// maintenance interval, so a notification lost while a node reconnects costs at most that.
/// </summary>
public static class WakeUpChannel
{
    private const string Channel = "ingest_wake";

    /// <summary>The SQL expression that notifies, for statements that do it themselves.</summary>
    public const string NotifySql = $"pg_notify('{Channel}', '')";

    /// <summary>Notifies every listening node when the caller's transaction commits.</summary>
    public static async Task NotifyAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand($"SELECT {NotifySql}", connection);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Listens until stopped, on a connection of its own (outside the pool, which would otherwise
    /// hand a listening session to other work), calling <paramref name="onWake"/> for each
    /// notification and after each (re)connection. Reconnects when the connection breaks.
    /// </summary>
    public static async Task ListenAsync(string connectionString, Action onWake, ILogger logger, CancellationToken cancellationToken)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "ingest-node-listen" };
        var lost = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(csb.ConnectionString);
                await connection.OpenAsync(cancellationToken);
                connection.Notification += (_, _) => onWake();
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                    await listen.ExecuteNonQueryAsync(cancellationToken);
                if (lost) logger.LogInformation("listening for new work again");
                lost = false;
                onWake(); // anything submitted while not listening
                while (true) await connection.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
            {
                if (!lost) logger.LogWarning("not listening for new work ({Error}); polling meanwhile", e.Message);
                lost = true;
                try { await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
}
