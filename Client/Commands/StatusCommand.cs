using System.CommandLine;
using Ingest.Client.Output;
using Ingest.GrainInterfaces;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary><c>ingest status [ID] [--files] [--json]</c>: one import's totals (and each file's), or the cluster at a glance.</summary>
public static class StatusCommand
{
    public static Command Build(ClientContext context)
    {
        var id = new Argument<long?>("id") { Description = "The import's id; omit for a cluster summary", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout" };
        var files = new Option<bool>("--files") { Description = "Also show each file's (unit's) counts" };
        var command = new Command("status", "Show an import's progress, or the cluster's") { id, files, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            if (result.GetValue(id) is not { } importId)
            {
                var cluster = await CommandRunner.ReadAsync(() => context.Catalog.GetClusterStatusAsync(context.ClusterId, ct),
                    new ClusterStatus([], new Dictionary<ImportState, int>()));
                if (result.GetValue(json)) { Json.Write(context.Out, cluster); return ExitCodes.Ok; }
                context.OutConsole.MarkupLine($"[bold]{cluster.LiveSilos.Count}[/] live silos, {cluster.LiveSilos.Sum(n => n.UnitsInFlight)} units in flight");
                foreach (var (state, count) in cluster.ImportsByState.OrderBy(kv => kv.Key)) // in life order
                    context.OutConsole.MarkupLine($"  {StatusView.StateMarkup(state)}: {count}");
                return ExitCodes.Ok;
            }

            var status = await CommandRunner.ReadAsync(() => context.Catalog.GetStatusAsync(importId, result.GetValue(files), ct), null);
            if (status is null)
            {
                await context.Error.WriteLineAsync($"no import with id {importId} (see 'ingest list')");
                return ExitCodes.NotFound;
            }
            if (result.GetValue(json)) Json.Write(context.Out, status);
            else StatusView.Render(context.OutConsole, status);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
