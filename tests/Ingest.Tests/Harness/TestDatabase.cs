using Ingest.Grains;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Tests.Harness;

/// <summary>One test's own database (state schema and target tables), plus the nodes the test starts on it.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly List<NodeProcess> _nodes = [];

    private TestDatabase(PostgresServer server, string connectionString)
    {
        Server = server;
        ConnectionString = connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
        Store = new ImportStore(DataSource);
    }

    public PostgresServer Server { get; }

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public ImportStore Store { get; }

    public IReadOnlyList<NodeProcess> Nodes => _nodes;

    /// <summary>A database that <paramref name="server"/> already has (e.g. <c>postgres</c>).</summary>
    public static TestDatabase Existing(PostgresServer server, string database) => new(server, server.ConnectionString(database));

    public static async Task<TestDatabase> CreateAsync(PostgresServer? server = null, bool migrate = true)
    {
        server ??= await PostgresServer.SharedAsync();
        var db = new TestDatabase(server, await server.CreateDatabaseAsync());
        if (migrate) await SchemaMigrator.MigrateAsync(db.DataSource);
        return db;
    }

    public NodeProcess StartNode(int slots = 2, IDictionary<string, string>? env = null)
    {
        var node = NodeProcess.Start(ConnectionString, slots, env);
        _nodes.Add(node);
        return node;
    }

    public Task<long> SubmitAsync(string specJson) => Store.SubmitAsync(ImportSpecParser.ParseJson(specJson));

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

    public async Task<ImportStatus> StatusAsync(long id) => await Store.GetStatusAsync(id) ?? throw new InvalidOperationException($"import {id} not found");

    /// <summary>Polls until the import reaches a final state (or the one given) and returns its status.</summary>
    public Task<ImportStatus> WaitForAsync(long id, TimeSpan? timeout = null, params string[] states)
    {
        string[] wanted = states.Length > 0 ? states
            : [ImportState.Completed, ImportState.CompletedWithErrors, ImportState.Failed, ImportState.Cancelled];
        return Poll.UntilAsync(() => StatusAsync(id), s => wanted.Contains(s.State), timeout ?? TimeSpan.FromSeconds(90),
            () => $"import {id} to become {string.Join('/', wanted)}; node output:\n{string.Join("\n----\n", _nodes.Select(n => n.Output))}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}
