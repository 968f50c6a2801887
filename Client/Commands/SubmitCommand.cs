using System.CommandLine;
using Ingest.Client.Output;
using Ingest.Grains;
using Ingest.GrainInterfaces;

namespace Ingest.Client.Commands;

/// <summary><c>ingest submit SPEC [--wait] [--json]</c>: validates and stores an import; optionally follows it to the end.</summary>
public static class SubmitCommand
{
    public static Command Build(ClientContext context)
    {
        var spec = CommandRunner.SpecArgument();
        var wait = new Option<bool>("--wait") { Description = "Follow the import until it ends; exit 0 only if it completed" };
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout: {\"id\":…} or, with --wait, the final status" };
        var command = new Command("submit", "Submit an import; prints its id") { spec, wait, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var file = result.GetValue(spec)!;
            var parsed = ImportSpecParser.ParseFile(file.FullName);
            await TransientErrors.Pipeline.ExecuteAsync(async t => await SchemaMigrator.MigrateAsync(context.DataSource, t), ct);
            var (id, _) = await context.Control.SubmitAsync(parsed, ct);

            if (!result.GetValue(wait))
            {
                if (result.GetValue(json)) Json.Write(context.Out, new { id, name = parsed.Name, state = ImportState.Pending });
                else await context.Out.WriteLineAsync(id.ToString());
                return ExitCodes.Ok;
            }

            await context.Error.WriteLineAsync($"import {id} submitted; waiting for it to end (Ctrl-C stops waiting, not the import)");
            var status = await new ImportWatcher(context).WatchAsync(id, ct);
            if (result.GetValue(json)) Json.Write(context.Out, status);
            else StatusView.Render(context.OutConsole, status);
            return status.State == ImportState.Completed ? ExitCodes.Ok : ExitCodes.ImportNotCompleted;
        }, ct));
        return command;
    }
}
