using Ingest.Client;
using Ingest.Engine;
using Ingest.GrainInterfaces;
using Ingest.Grains;
using Npgsql;
using Ingest.Catalog;

namespace Ingest.Tests.Harness;

/// <summary>
/// One test's own database (catalog, Orleans' tables and target tables), the silos the test starts
/// on it, and an Orleans client of their cluster: imports are submitted and controlled through
/// their grains, as the console does.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly List<SiloProcess> _silos = [];
    private ClusterConnection? _cluster;

    private TestDatabase(PostgresServer server, string connectionString)
    {
        Server = server;
        ConnectionString = connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
        Catalog = new ImportCatalog(DataSource);
        Control = new ImportControl(Catalog, ConnectAsync);
    }

    public PostgresServer Server { get; }

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public ImportCatalog Catalog { get; }

    /// <summary>Submit, pause, resume and cancel through the import grains.</summary>
    public ImportControl Control { get; }

    public IReadOnlyList<SiloProcess> Silos => _silos;

    /// <summary>A database that <paramref name="server"/> already has (e.g. <c>postgres</c>).</summary>
    public static TestDatabase Existing(PostgresServer server, string database) => new(server, server.ConnectionString(database));

    public static async Task<TestDatabase> CreateAsync(PostgresServer? server = null, bool migrate = true)
    {
        server ??= await PostgresServer.SharedAsync();
        var db = new TestDatabase(server, await server.CreateDatabaseAsync());
        if (migrate) await SchemaMigrator.MigrateAsync(db.DataSource);
        return db;
    }

    public SiloProcess StartSilo(int slots = 2, IDictionary<string, string>? env = null, bool batches = true)
    {
        var silo = SiloProcess.Start(ConnectionString, slots, env, batches);
        _silos.Add(silo);
        return silo;
    }

    // The cluster client, connected on first use once a silo's gateway answers.
    private async Task<IClusterClient?> ConnectAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (_cluster is null)
        {
            (_cluster, var problem) = await ClusterConnection.TryConnectAsync(ConnectionString, "ingest", cancellationToken);
            if (_cluster is not null) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no silo's gateway answered within 60 s ({problem}); silo output:\n{SiloOutput}");
            await Task.Delay(200, cancellationToken);
        }
        return _cluster.Client;
    }

    public async Task<long> SubmitAsync(string specJson) => (await Control.SubmitAsync(ImportSpecParser.ParseJson(specJson))).Id;

    /// <summary>Stores an import without telling any silo, as a submit does when none is running: a silo that starts takes it.</summary>
    public Task<long> StoreAsync(string specJson) => Catalog.SubmitAsync(ImportSpecParser.ParseJson(specJson), IngestTracing.NewTraceParent());

    /// <summary>Loads a batch of an import's units with the loader, in a transaction of its own that commits.</summary>
    public async Task<IReadOnlyList<UnitLoadResult>> LoadBatchAsync(UnitLoader loader, long importId, params string[] keys)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var results = await loader.LoadBatchAsync(connection, importId, keys);
        await tx.CommitAsync();
        return results;
    }

    /// <summary>
    /// Where an import's counters (<c>ingest.import_counters</c>) differ from the sums over its units,
    /// as "scope.counter: counters≠units" lines; empty when they agree.
    /// </summary>
    public Task<string> CountersMismatchAsync(long id) => ScalarAsync<string>($"""
        WITH counters AS (
          SELECT scope, counter, sum(value) AS v FROM ingest.import_counters WHERE import_id = {id} GROUP BY 1, 2),
        units AS (
          SELECT c.scope, c.counter, sum(c.value) AS v
          FROM ingest.units u CROSS JOIN LATERAL (VALUES
            ('units', 'total', 1::bigint), ('units', 'done', (u.state = {StateSql.Unit.Done})::int::bigint),
            ('units', 'failed', (u.state = {StateSql.Unit.Failed})::int::bigint), ('units', 'cancelled', (u.state = {StateSql.Unit.Cancelled})::int::bigint),
            ('units', 'unsized', (u.size_bytes IS NULL)::int::bigint),
            ('bytes', 'total', coalesce(u.size_bytes, 0)), ('bytes', 'ended', CASE WHEN u.state IN ({StateSql.Unit.Done}, {StateSql.Unit.Failed}) THEN coalesce(u.size_bytes, 0) ELSE 0 END),
            ('bytes', 'read', u.bytes_read), ('rows', 'read', u.rows_read), ('rows', 'inserted', u.rows_inserted),
            ('rows', 'updated', u.rows_updated), ('rows', 'unchanged', u.rows_unchanged), ('rows', 'rejected', u.rows_rejected)) AS c(scope, counter, value)
          WHERE u.import_id = {id}
          GROUP BY 1, 2)
        SELECT coalesce(string_agg(scope || '.' || counter || ': ' || coalesce(c.v, 0) || '≠' || coalesce(u.v, 0), E'\n'), '')
        FROM counters c FULL JOIN units u USING (scope, counter)
        WHERE coalesce(c.v, 0) <> coalesce(u.v, 0) AND (scope IN ('units', 'bytes', 'rows'))
        """);

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var cmd = DataSource.CreateCommand(sql);
        var value = await cmd.ExecuteScalarAsync();
        return (T)Convert.ChangeType(value!, typeof(T));
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var cmd = DataSource.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<ImportStatus> StatusAsync(long id) => await Catalog.GetStatusAsync(id) ?? throw new InvalidOperationException($"import {id} not found");

    /// <summary>How many units of the import are in <paramref name="state"/>, optionally only those claimed by <paramref name="silo"/>.</summary>
    public Task<long> UnitsAsync(long id, UnitState state, SiloProcess? silo = null) => ScalarAsync<long>(
        $"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Literal(state)}" + (silo is null ? "" : $" AND silo = '{silo.Address}'"));

    /// <summary>Attempts in flight (one unit, or a batch of units, each): the running units' distinct dispatches.</summary>
    public Task<long> AttemptsAsync(long id, string? silo = null) => ScalarAsync<long>(
        $"SELECT count(DISTINCT dispatch) FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Running}" + (silo is null ? "" : $" AND silo = '{silo}'"));

    /// <summary>The import's state and its units grouped by state, attempts and silo: what a test prints when it times out.</summary>
    public Task<string> DescribeAsync(long id) => ScalarAsync<string>($"""
        SELECT (SELECT state FROM ingest.imports WHERE id = {id}) || ': ' || coalesce(string_agg(u, '; '), 'no units') FROM (
          SELECT format('%s x%s attempts %s silo %s', state, count(*), attempts, coalesce(silo, '-')) u FROM ingest.units
          WHERE import_id = {id} GROUP BY state, attempts, silo ORDER BY state, attempts, silo) g
        """);

    public string SiloOutput => string.Join("\n----\n", _silos.Select(n => $"silo {n.Pid}:\n{n.Output}"));

    /// <summary>Polls until the import reaches a final state (or the one given) and returns its status.</summary>
    public Task<ImportStatus> WaitForAsync(long id, TimeSpan? timeout = null, params ImportState[] states)
    {
        ImportState[] wanted = states.Length > 0 ? states : [.. Enum.GetValues<ImportState>().Where(s => s.IsFinal())];
        return Poll.UntilAsync(() => StatusAsync(id), s => wanted.Contains(s.State), timeout ?? TimeSpan.FromSeconds(90),
            () => $"import {id} to become {string.Join('/', wanted.Select(s => s.Name()))}; silo output:\n{SiloOutput}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        foreach (var silo in _silos) await silo.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}
