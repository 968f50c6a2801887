using System.Text;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>The node process itself, apart from what it loads.</summary>
public class NodeTests
{
    [Fact]
    public async Task A_running_node_watches_no_files()
    {
        // The host's defaults watch the working directory recursively for appsettings changes; under
        // a busy directory that costs the node real CPU. The node is configured by variables only.
        await using var db = await TestDatabase.CreateAsync();
        var node = db.StartNode();
        await Poll.UntilAsync(() => Task.FromResult(node.Output.Contains(" started on ")), TimeSpan.FromSeconds(30), () => $"node start; output:\n{node.Output}");

        var handles = new DirectoryInfo($"/proc/{node.Pid}/fd").GetFiles().Select(f => f.LinkTarget ?? "").ToList();

        Assert.NotEmpty(handles);
        Assert.DoesNotContain(handles, h => h.Contains("inotify", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_node_exports_its_metrics_by_otlp_when_an_endpoint_is_set()
    {
        using var receiver = new OtlpReceiver();
        using var data = new TempFolder().WithPages(files: 3, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        db.StartNode(env: new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        });

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)));
        Assert.Equal(ImportState.Completed, status.State);

        // Protobuf keeps strings as UTF-8: the instrument names are readable in the payload.
        static bool Has(byte[] export, string name) => Encoding.UTF8.GetString(export).Contains(name, StringComparison.Ordinal);
        await Poll.UntilAsync(() => Task.FromResult(receiver.MetricExports.Any(e => Has(e, "ingest.units.completed"))),
            TimeSpan.FromSeconds(30), () => $"an OTLP export with ingest.units.completed ({receiver.MetricExports.Count} exports so far)");
        var export = receiver.MetricExports.Last(e => Has(e, "ingest.units.completed"));
        Assert.True(Has(export, "ingest.rows.read"));
        Assert.True(Has(export, "ingest.unit.duration"));
    }

    [Fact]
    public async Task A_submitted_or_resumed_import_wakes_the_nodes_at_once()
    {
        // With a maintenance round every 10 minutes, only the notification can get the import
        // planned, and resumed, within the test's time.
        using var data = new TempFolder().WithPages(files: 2, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        var node = db.StartNode(env: new Dictionary<string, string> { ["INGEST_MAINTENANCE_SECONDS"] = "600" });
        await Poll.UntilAsync(() => Task.FromResult(node.Output.Contains(" started on ")), TimeSpan.FromSeconds(30), () => $"node start; output:\n{node.Output}");

        var first = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)), TimeSpan.FromSeconds(30));
        Assert.Equal(ImportState.Completed, first.State);

        // Paused before any node could plan it: only the resume's notification plans it.
        await node.FreezeAsync();
        var id = await db.SubmitAsync(Specs.Files(data.Path, table: "games_again"));
        await db.Store.PauseAsync(id);
        node.Thaw();
        Assert.Equal(ImportState.Paused, (await db.StatusAsync(id)).State);
        await db.Store.ResumeAsync(id);
        var again = await db.WaitForAsync(id, TimeSpan.FromSeconds(30));
        Assert.Equal(ImportState.Completed, again.State);
        Assert.Equal(20, await db.ScalarAsync<long>("SELECT count(*) FROM games_again"));
    }
}
