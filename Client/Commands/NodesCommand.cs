using System.CommandLine;
using Ingest.Client.Output;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary><c>ingest nodes [--json]</c>: the nodes that have not stopped cleanly, live or not.</summary>
public static class NodesCommand
{
    public static Command Build(ClientContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout" };
        var command = new Command("nodes", "List nodes: id, host, pid, started, last heartbeat, units in flight") { json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var nodes = await context.Store.ListNodesAsync(cancellationToken: ct);
            if (result.GetValue(json)) { Json.Write(context.Out, nodes); return ExitCodes.Ok; }
            var table = new Table().Border(TableBorder.Simple);
            table.AddColumns("id", "host", "pid", "slots", "started", "last heartbeat", "live", "units in flight");
            foreach (var n in nodes)
                table.AddRow(n.Id.ToString(), Markup.Escape(n.Host), n.Pid.ToString(), n.Slots.ToString(),
                    $"{n.StartedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}", $"{n.HeartbeatAt.ToLocalTime():HH:mm:ss}",
                    n.Live ? "[green]yes[/]" : "[red]no[/]", n.UnitsInFlight.ToString());
            context.OutConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }
}
