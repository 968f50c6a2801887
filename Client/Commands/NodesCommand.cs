using System.CommandLine;
using Ingest.Client.Output;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary><c>ingest nodes [--all] [--json]</c>: the cluster's silos, from Orleans' membership table.</summary>
public static class NodesCommand
{
    public static Command Build(ClientContext context)
    {
        var all = new Option<bool>("--all") { Description = "Include dead silos" };
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout" };
        var command = new Command("nodes", "List silos: address, name, host, pid, status, started, last I-am-alive, units in flight") { all, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var silos = await CommandRunner.ReadAsync(() => context.Catalog.ListSilosAsync(context.ClusterId, result.GetValue(all), ct), []);
            if (result.GetValue(json)) { Json.Write(context.Out, silos); return ExitCodes.Ok; }
            var table = new Table().Border(TableBorder.Simple);
            table.AddColumns("address", "name", "host", "pid", "status", "started", "last alive", "units in flight");
            foreach (var s in silos)
                table.AddRow(s.Address, Markup.Escape(s.Name), Markup.Escape(s.Host), s.Pid?.ToString() ?? "", StatusMarkup(s.Status),
                    $"{s.StartedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}", $"{s.IAmAliveAt.ToLocalTime():HH:mm:ss}", s.UnitsInFlight.ToString());
            context.OutConsole.Write(table);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static string StatusMarkup(string status) => status switch
    {
        "active" => "[green]active[/]",
        "dead" => "[red]dead[/]",
        _ => $"[yellow]{status}[/]",
    };
}
