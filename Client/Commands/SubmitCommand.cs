using System.CommandLine;
using Ingest.Client.Output;
using Ingest.GrainInterfaces;
using Ingest.Catalog;
using Ingest.Engine;

namespace Ingest.Client.Commands;

/// <summary>
/// <c>ingest submit SPEC [--wait] [--concurrent] [--full] [--reset | --keep-state] [--json]</c>:
/// validates and stores an import; optionally follows it to the end. One import per name at a time,
/// unless <c>--concurrent</c>. An incremental spec whose source or target changed since its
/// watermark store was written is refused unless <c>--reset</c>, <c>--keep-state</c> or <c>--full</c>.
/// </summary>
public static class SubmitCommand
{
    public static Command Build(ClientContext context)
    {
        var spec = CommandRunner.SpecArgument();
        var wait = new Option<bool>("--wait") { Description = "Follow the import until it ends; exit 0 only if it completed" };
        var concurrent = new Option<bool>("--concurrent") { Description = "Submit even while an import of the same name has not ended; both run" };
        var full = new Option<bool>("--full") { Description = "Incremental source: load every file this once (an API: read from the initial value), ignoring what earlier imports committed; the state is then updated" };
        var reset = new Option<bool>("--reset") { Description = "Incremental source: clear the name's state first (as 'ingest reset NAME'), so every file loads (an API: from the initial value)" };
        var keepState = new Option<bool>("--keep-state") { Description = "Incremental source: keep the name's state although the spec's source or target changed since it was written" };
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout: {\"id\":…} or, with --wait, the final status" };
        var command = new Command("submit", "Submit an import; prints its id") { spec, wait, concurrent, full, reset, keepState, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var file = result.GetValue(spec)!;
            var parsed = ImportSpecParser.ParseFile(file.FullName);
            var options = new SubmitOptions(result.GetValue(concurrent), result.GetValue(full), result.GetValue(reset), result.GetValue(keepState));
            CheckStateOptions(parsed, options);
            await TransientErrors.Pipeline.ExecuteAsync(async t => await SchemaMigrator.MigrateAsync(context.DataSource, t), ct);
            if (parsed.Source.Incremental && (options.Full || options.Reset || options.KeepState)
                && await context.Catalog.GetWatermarkChangesAsync(parsed, ct) is { Count: > 0 } changes)
                await context.Error.WriteLineAsync($"warning: the source or target of '{parsed.Name}' changed since its incremental state was written ({string.Join("; ", changes)}); " +
                    (options.Reset ? "--reset clears the state: every file loads (an API is read from the initial value)"
                        : options.Full ? "--full loads every file (an API: from the initial value), and the state is then updated"
                        : "--keep-state keeps it: files it records as committed in their current version are skipped (an API is read from its cursor)"));
            long id;
            try
            {
                // Stored, not sent: a silo hears of it from the catalog, so submitting needs no connection to the cluster.
                id = await context.Control.StoreAsync(parsed, options, ct);
            }
            catch (ImportNameInUseException e)
            {
                throw new UsageException(
                    $"import {e.ImportId} named '{e.Name}' is {e.State.Name()}, and one import per name runs at a time: nothing was submitted. " +
                    $"Wait for it to end (ingest status {e.ImportId}), cancel it (ingest cancel {e.ImportId}), or submit with --concurrent to run both");
            }
            catch (WatermarkScopeChangedException e)
            {
                throw new UsageException(
                    $"the source or target of '{e.Name}' changed since its incremental state was written ({string.Join("; ", e.Changes)}): nothing was submitted. " +
                    $"Submit with --reset to clear the state and load every file, or with --keep-state to skip the files it records as committed (ingest state {e.Name} lists them)");
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

    // The state options only mean something for an incremental source, and --reset and --keep-state contradict each other.
    private static void CheckStateOptions(ImportSpec spec, SubmitOptions options)
    {
        if (options.Reset && options.KeepState) throw new UsageException("--reset clears the state and --keep-state keeps it: give one of them");
        var given = new[] { (options.Full, "--full"), (options.Reset, "--reset"), (options.KeepState, "--keep-state") }.Where(o => o.Item1).Select(o => o.Item2).ToList();
        if (given.Count > 0 && !spec.Source.Incremental)
            throw new UsageException($"{string.Join(", ", given)}: only for an incremental source, and the source of '{spec.Name}' is not (set \"incremental\" on it: true for files, a cursor for an API)");
    }
}
