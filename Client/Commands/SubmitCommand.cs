using System.CommandLine;
using Ingest.Client.Output;
using Ingest.GrainInterfaces;
using Ingest.Catalog;
using Ingest.Engine;

namespace Ingest.Client.Commands;

/// <summary>
/// <c>ingest submit SPEC [--wait] [--concurrent] [--json]</c>: validates and stores an import;
/// optionally follows it to the end. One import per name at a time, unless <c>--concurrent</c>.
/// </summary>
public static class SubmitCommand
{
    public static Command Build(ClientContext context)
    {
        var spec = CommandRunner.SpecArgument();
        var wait = new Option<bool>("--wait") { Description = "Follow the import until it ends; exit 0 only if it completed" };
        var concurrent = new Option<bool>("--concurrent") { Description = "Submit even while an import of the same name has not ended; both run" };
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout: {\"id\":…} or, with --wait, the final status" };
        var command = new Command("submit", "Submit an import; prints its id") { spec, wait, concurrent, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var file = result.GetValue(spec)!;
            var parsed = ImportSpecParser.ParseFile(file.FullName);
            await TransientErrors.Pipeline.ExecuteAsync(async t => await SchemaMigrator.MigrateAsync(context.DataSource, t), ct);
            long id;
            try
            {
                // Stored, not sent: a silo hears of it from the catalog, so submitting needs no connection to the cluster.
                id = await context.Control.StoreAsync(parsed, result.GetValue(concurrent), ct);
            }
            catch (ImportNameInUseException e)
            {
                throw new UsageException(
                    $"import {e.ImportId} named '{e.Name}' is {e.State.Name()}, and one import per name runs at a time: nothing was submitted. " +
                    $"Wait for it to end (ingest status {e.ImportId}), cancel it (ingest cancel {e.ImportId}), or submit with --concurrent to run both");
            }

            if (!await TransientErrors.Pipeline.ExecuteAsync(async t => await context.Catalog.AnySiloAliveAsync(context.ClusterId, ImportWatcher.SiloAliveWithin, t), ct))
                await context.Error.WriteLineAsync($"no silo is running in cluster '{context.ClusterId}': import {id} is stored, and a silo takes it when one starts (bin/ingest-silo)");

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
