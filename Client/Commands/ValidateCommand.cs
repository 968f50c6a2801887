using System.CommandLine;
using Ingest.Client.Output;
using Ingest.Engine.Quality;
using Ingest.GrainInterfaces;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary>
/// <c>ingest validate SPEC [--sample N] [--files F] [--json]</c>: a dry run in the client over the
/// first records of the first files; writes nothing, needs no silo and no database.
/// Exit 0 when clean, 1 when a record would be rejected (or a file cannot be read), 64 for a bad spec.
/// </summary>
public static class ValidateCommand
{
    public static Command Build(ClientContext context)
    {
        var spec = CommandRunner.SpecArgument();
        var sample = new Option<int>("--sample") { Description = "Records read from each file", DefaultValueFactory = _ => 1000 };
        var files = new Option<int>("--files") { Description = "Files read", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout" };
        var command = new Command("validate", "Check a spec and a sample of its data without loading anything") { spec, sample, files, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var parsed = ImportSpecParser.ParseFile(result.GetValue(spec)!.FullName);
            if (result.GetValue(sample) < 1 || result.GetValue(files) < 1) throw new UsageException("--sample and --files must be at least 1");
            var report = await SampleCheck.RunAsync(parsed, context.Sources, result.GetValue(sample), result.GetValue(files), ct);
            if (result.GetValue(json)) Json.Write(context.Out, report);
            else Render(context.OutConsole, report);
            return report.Clean ? ExitCodes.Ok : ExitCodes.ImportNotCompleted;
        }, ct));
        return command;
    }

    private static void Render(IAnsiConsole console, SampleReport r)
    {
        console.MarkupLine($"{r.Files} files, {r.Records:N0} records read: [green]{r.Valid:N0} valid[/], " +
                           (r.Rejected > 0 ? $"[yellow]{r.Rejected:N0} would be rejected[/]" : "0 would be rejected"));
        foreach (var (column, n) in r.DefaultsFilled) console.MarkupLine($"  default fills [bold]{Markup.Escape(column)}[/] in {n:N0} records");
        foreach (var (rule, report) in r.Rules)
        {
            console.MarkupLine($"  [yellow]{Markup.Escape(rule)}[/]: {report.Records:N0} records");
            foreach (var e in report.Examples)
                console.MarkupLine($"    {Markup.Escape(e.File)} record {e.RecordIndex}: {Markup.Escape(e.Problem)}");
        }
        foreach (var error in r.FileErrors) console.MarkupLine($"  [red]{Markup.Escape(error)}[/]");
    }
}
