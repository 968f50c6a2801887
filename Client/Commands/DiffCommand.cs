using System.CommandLine;
using Ingest.Client.Output;
using Ingest.Engine.Quality;
using Ingest.GrainInterfaces;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary>
/// <c>ingest diff SPEC [--json]</c>: what loading the source would do to its table, key by key
/// (inserted, updated and which columns, unchanged, only in the table). Writes nothing.
/// </summary>
public static class DiffCommand
{
    public static Command Build(ClientContext context)
    {
        var spec = CommandRunner.SpecArgument();
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout" };
        var command = new Command("diff", "Compare a source with the table it loads, by key, without loading anything") { spec, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var parsed = ImportSpecParser.ParseFile(result.GetValue(spec)!.FullName);
            var report = await TableDiff.RunAsync(context.DataSource, parsed, context.Sources, ct);
            if (result.GetValue(json)) Json.Write(context.Out, report);
            else Render(context.OutConsole, parsed, report);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static void Render(IAnsiConsole console, ImportSpec spec, DiffReport r)
    {
        console.MarkupLine($"{r.Records:N0} records read{(r.Rejected > 0 ? $", [yellow]{r.Rejected:N0} would be rejected[/]" : "")}; " +
                           $"table {Markup.Escape(spec.Target.Schema)}.{Markup.Escape(spec.Target.Table)}{(r.TableExists ? "" : " does not exist yet")}:");
        console.MarkupLine($"  would insert   {r.Inserted,10:N0}");
        console.MarkupLine($"  would update   {r.Updated,10:N0}");
        foreach (var (column, n) in r.ChangedColumns) console.MarkupLine($"    {Markup.Escape(column)} differs in {n:N0}");
        foreach (var e in r.Examples) console.MarkupLine($"    key {Markup.Escape(e.Key)}: {Markup.Escape(e.Changes)}");
        console.MarkupLine($"  unchanged      {r.Unchanged,10:N0}");
        console.MarkupLine($"  only in table  {r.OnlyInTable,10:N0}");
    }
}
