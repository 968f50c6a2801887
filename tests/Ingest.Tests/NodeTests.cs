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
}
