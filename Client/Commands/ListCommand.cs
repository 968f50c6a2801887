using System.CommandLine;
using Ingest.Client.Output;
using Ingest.GrainInterfaces;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary><c>ingest list [--state S] [--json]</c>: imports, newest first.</summary>
public static class ListCommand
{
    public static Command Build(ClientContext context)
    {
        var state = new Option<string?>("--state") { Description = "Only imports in this state" };
        state.AcceptOnlyFromAmong([.. Enum.GetValues<ImportState>().Select(s => s.Name())]);
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout" };
        var command = new Command("list", "List imports, newest first") { state, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var imports = await CommandRunner.ReadAsync(() => context.Catalog.ListAsync(result.GetValue(state) is { } name ? StateNames.ToImportState(name) : null, cancellationToken: ct), []);
            if (result.GetValue(json)) { Json.Write(context.Out, imports); return ExitCodes.Ok; }
            var table = new Table().Border(TableBorder.Simple);
            table.AddColumns("id", "name", "state", "units done/failed/total", "submitted", "finished");
            foreach (var i in imports)
                table.AddRow(i.Id.ToString(), Markup.Escape(i.Name), StatusView.StateMarkup(i.State), $"{i.UnitsDone}/{i.UnitsFailed}/{i.UnitsTotal}",
                    $"{i.SubmittedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}", i.FinishedAt is { } f ? $"{f.ToLocalTime():HH:mm:ss}" : "");
            context.OutConsole.Write(table);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
