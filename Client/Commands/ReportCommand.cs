using System.CommandLine;
using System.Text;
using Ingest.Catalog;
using Ingest.Client.Output;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary>
/// <c>ingest report [ID] [--since 30d] [--json] [--output FILE]</c>: the catalog over a period, or one
/// import in depth; to a file with <c>--output</c>.
/// </summary>
public static class ReportCommand
{
    public static Command Build(ClientContext context)
    {
        var id = new Argument<long?>("id") { Description = "An import's id; omit for all imports of the period", Arity = ArgumentArity.ZeroOrOne };
        var since = new Option<string>("--since") { Description = "The period: imports submitted within it (30d, 12h, 45m; default 30d)", DefaultValueFactory = _ => "30d" };
        var json = new Option<bool>("--json") { Description = "JSON instead of tables" };
        var output = new Option<string?>("--output") { Description = "Write the report to this file instead of stdout" };
        var command = new Command("report", "Report on imports: by state, success rate, rows per table, recent, slowest, most rejects; or one import in depth") { id, since, json, output };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var reports = new ImportReports(context.DataSource, context.Catalog);
            object? report;
            if (result.GetValue(id) is { } importId)
            {
                report = await reports.ImportAsync(importId, ct);
                if (report is null)
                {
                    await context.Error.WriteLineAsync($"no import with id {importId} (see 'ingest list')");
                    return ExitCodes.NotFound;
                }
            }
            else
            {
                if (!RelativeDuration.TryParse(result.GetValue(since)!, out var period))
                {
                    await context.Error.WriteLineAsync($"--since: '{result.GetValue(since)}' is not a duration like 30d, 12h or 45m");
                    return ExitCodes.Usage;
                }
                report = await reports.OverviewAsync(DateTimeOffset.UtcNow - period, ct);
            }

            var path = result.GetValue(output);
            await using var file = path is null ? null : new StreamWriter(path, false, new UTF8Encoding(false));
            var writer = (TextWriter?)file ?? context.Out;
            if (result.GetValue(json)) Json.Write(writer, report);
            else
            {
                var console = file is null ? context.OutConsole : AnsiConsole.Create(new AnsiConsoleSettings
                    { Out = new AnsiConsoleOutput(file), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No });
                if (report is ImportReport one) ReportView.Render(console, one);
                else ReportView.Render(console, (OverviewReport)report);
            }
            if (path is not null) await context.Error.WriteLineAsync($"report written to {path}");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
