using Npgsql;

namespace Ingest.Catalog;

/// <summary>
/// Hears imports end: the catalog notifies <see cref="Channel"/> with the import's id whenever one
/// ends (sql/014). A waiter wakes at the notification instead of at its next poll, and still polls,
/// so a notification missed while the connection was away costs one poll at most.
/// </summary>
public sealed class ImportEndings : IAsyncDisposable
{
    public const string Channel = "ingest_import_ended";

    private readonly NpgsqlConnection? _connection;

    private ImportEndings(NpgsqlConnection? connection) => _connection = connection;

    /// <summary>Listens on a connection of its own; without one (the database went away), waits merely poll.</summary>
    public static async Task<ImportEndings> ListenAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken = default)
    {
        NpgsqlConnection? connection = null;
        try
        {
            connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var listen = new NpgsqlCommand($"LISTEN {Channel}", connection);
            await listen.ExecuteNonQueryAsync(cancellationToken);
            return new ImportEndings(connection);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            if (connection is not null) await connection.DisposeAsync();
            return new ImportEndings(null);
        }
    }

    /// <summary>Waits until an import ends or <paramref name="poll"/> passes, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan poll, CancellationToken cancellationToken = default)
    {
        if (_connection is null)
        {
            await Task.Delay(poll, cancellationToken);
            return;
        }
        try
        {
            await _connection.WaitAsync(poll, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
        {
            await Task.Delay(poll, cancellationToken); // the listening connection broke: poll only
        }
    }

    public ValueTask DisposeAsync() => _connection?.DisposeAsync() ?? ValueTask.CompletedTask;
}
