using System.Diagnostics;
using System.Text;
using RabbitMQ.Client;
using Xunit;

namespace Ingest.Tests.Harness;

/// <summary>
/// Debian's rabbitmq-server run as a plain process with everything in a temp folder (its Erlang
/// cookie, data, logs) and a private port mapper (<c>ERL_EPMD_PORT</c>, since epmd daemonises and
/// is otherwise shared by the whole machine), started once per test run: it takes 7–40 s to start
/// on 2 cores. Stopped, with its epmd, when the run ends, or by the watchdog if the run is killed.
/// </summary>
public sealed class RabbitMqBroker : IAsyncDisposable
{
    private const string ServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    private const string Ctl = "/usr/lib/rabbitmq/bin/rabbitmqctl";
    private static readonly Lazy<Task<RabbitMqBroker>> SharedBroker = new(StartAsync);
    private readonly Process _process;
    private readonly string _dir;
    private readonly Dictionary<string, string> _env;
    private readonly StringBuilder _output = new();
    private IDisposable? _watchdog;
    private int? _beamPid;

    private RabbitMqBroker(Process process, string dir, int port, Dictionary<string, string> env)
    {
        _process = process;
        _dir = dir;
        _env = env;
        Port = port;
    }

    /// <summary>The broker of this test run, started on first use.</summary>
    public static Task<RabbitMqBroker> SharedAsync() => SharedBroker.Value;

    public int Port { get; }

    public string Uri => $"amqp://guest:guest@127.0.0.1:{Port}/";

    private string Node => _env["RABBITMQ_NODENAME"];

    public async Task<IConnection> ConnectAsync() => await new ConnectionFactory { Uri = new Uri(Uri) }.CreateConnectionAsync();

    private static async Task<RabbitMqBroker> StartAsync()
    {
        if (!File.Exists(ServerScript))
            throw new InvalidOperationException($"{ServerScript} is missing: run bin/install-deps --s3rver (Debian's rabbitmq-server, installed without starting a service)");
        var dir = Directory.CreateTempSubdirectory("ingest-rabbitmq-").FullName;
        var (port, dist, epmd) = (ExternalCommand.FreePort(), ExternalCommand.FreePort(), ExternalCommand.FreePort());
        var name = $"ingest{Environment.ProcessId}@localhost";
        File.WriteAllText(Path.Combine(dir, "rabbitmq.conf"), $"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n");
        File.WriteAllText(Path.Combine(dir, "enabled_plugins"), "[].\n");
        File.WriteAllText(Path.Combine(dir, "rabbitmq-env.conf"), "");
        var env = new Dictionary<string, string>
        {
            ["HOME"] = dir,
            ["RABBITMQ_NODENAME"] = name,
            ["RABBITMQ_NODE_PORT"] = port.ToString(),
            ["RABBITMQ_DIST_PORT"] = dist.ToString(),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(dir, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(dir, "log"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(dir, "rabbitmq"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(dir, "enabled_plugins"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(dir, "rabbitmq.pid"),
            ["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(dir, "rabbitmq-env.conf"),
            ["ERL_EPMD_PORT"] = epmd.ToString(),
        };
        var psi = new ProcessStartInfo(ServerScript) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in env) psi.Environment[k] = v;
        var process = Process.Start(psi)!;
        var broker = new RabbitMqBroker(process, dir, port, env);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (broker._output) broker._output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (broker._output) broker._output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // The Erlang VM (its pid in the pid file: the script forks it) and the private epmd (found by
        // the port in its environment), whatever ends the run.
        var pidFile = env["RABBITMQ_PID_FILE"];
        broker._watchdog = Watchdog.Register(
            $"kill -9 {process.Id}; [ -f '{pidFile}' ] && kill -9 $(cat '{pidFile}'); " +
            $"for p in $(pgrep -x epmd); do grep -qa 'ERL_EPMD_PORT={epmd}' /proc/$p/environ && kill -9 $p; done; rm -rf '{dir}'");
        var (code, output) = await ExternalCommand.RunAsync(Ctl, ["-n", name, "wait", pidFile, "--timeout", "180"], env: env, timeout: TimeSpan.FromMinutes(4));
        if (code != 0) throw new InvalidOperationException($"rabbitmq-server did not start: {output}\n{broker.Output}");
        broker._beamPid = int.Parse(File.ReadAllText(pidFile).Trim());
        return broker;
    }

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>Runs rabbitmqctl against this broker.</summary>
    public Task<(int ExitCode, string Output)> CtlAsync(params string[] args) =>
        ExternalCommand.RunAsync(Ctl, ["-n", Node, .. args], env: _env);

    /// <summary>Declares a quorum queue (with a delivery limit and a dead-letter queue when given), empty.</summary>
    public async Task DeclareAsync(string queue, int? deliveryLimit = null, string? deadLetterQueue = null)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var arguments = new Dictionary<string, object?> { ["x-queue-type"] = "quorum" };
        if (deliveryLimit is { } limit) arguments["x-delivery-limit"] = limit;
        if (deadLetterQueue is not null)
        {
            await channel.ExchangeDeclareAsync(deadLetterQueue, ExchangeType.Fanout, durable: true);
            await channel.QueueDeclareAsync(deadLetterQueue, durable: true, exclusive: false, autoDelete: false, new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
            await channel.QueueBindAsync(deadLetterQueue, deadLetterQueue, "");
            arguments["x-dead-letter-exchange"] = deadLetterQueue;
        }
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments);
    }

    /// <summary>Publishes bodies to a queue (default exchange) with publisher confirms, each with its properties.</summary>
    public async Task PublishAsync(string queue, IEnumerable<(byte[] Body, string? MessageId)> messages)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var pending = new List<ValueTask>();
        foreach (var (body, id) in messages)
        {
            var properties = new BasicProperties { Persistent = true, MessageId = id, Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()) };
            pending.Add(channel.BasicPublishAsync("", queue, mandatory: true, properties, body));
            if (pending.Count < 1000) continue;
            foreach (var p in pending) await p;
            pending.Clear();
        }
        foreach (var p in pending) await p;
    }

    public Task PublishAsync(string queue, IEnumerable<string> bodies) => PublishAsync(queue, bodies.Select(b => (Encoding.UTF8.GetBytes(b), (string?)null)));

    /// <summary>Messages ready in a queue.</summary>
    public async Task<uint> DepthAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    /// <summary>Takes every message of a queue off it (acked); their bodies.</summary>
    public async Task<List<string>> DrainAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var bodies = new List<string>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } got) bodies.Add(Encoding.UTF8.GetString(got.Body.Span));
        return bodies;
    }

    public async ValueTask DisposeAsync()
    {
        try { await CtlAsync("stop"); } catch (Exception) { }
        if (!_process.HasExited) _process.Kill(true);
        if (_beamPid is { } beam)
        {
            try { Process.GetProcessById(beam).Kill(); } catch (Exception) { } // stopped already
        }
        var epmd = _env["ERL_EPMD_PORT"];
        foreach (var p in Process.GetProcessesByName("epmd"))
        {
            try
            {
                if (File.ReadAllText($"/proc/{p.Id}/environ").Contains($"ERL_EPMD_PORT={epmd}\0")) p.Kill();
            }
            catch (Exception) { }
        }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        _watchdog?.Dispose();
    }
}

/// <summary>The broker, once per test run, for the classes that need it.</summary>
public sealed class RabbitMqFixture : IAsyncLifetime
{
    public RabbitMqBroker Broker { get; private set; } = null!;

    public async Task InitializeAsync() => Broker = await RabbitMqBroker.SharedAsync();

    public Task DisposeAsync() => Task.CompletedTask;
}

[CollectionDefinition(Name)]
public sealed class RabbitMqCollection : ICollectionFixture<RabbitMqFixture>
{
    public const string Name = "RabbitMQ";
}
