using System.CommandLine;
using Ingest.Catalog;
using Ingest.GrainInterfaces;

namespace Ingest.Client.Commands;

/// <summary>
/// <c>ingest reset NAME [--file F]</c>: clears what the watermark store holds for an import name
/// (or for one file), so that its next import loads everything (or that file).
/// </summary>
public static class ResetCommand
{
    public static Command Build(ClientContext context)
    {
        var name = new Argument<string>("name") { Description = "The import's name (the spec's name)" };
        var file = new Option<string?>("--file") { Description = "Only this file (its name, or its object key, as 'ingest state NAME' lists it)" };
        var command = new Command("reset", "Clear what incremental imports of a name committed, so that the next one loads everything (or one file)") { name, file };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var (importName, key) = (result.GetValue(name)!, result.GetValue(file));
            (int Files, bool Cursor, bool Spec) reset;
            try
            {
                reset = await CommandRunner.ReadAsync(() => context.Catalog.ResetWatermarksAsync(importName, key, ct), (0, false, false));
            }
            catch (ImportNameInUseException e)
            {
                throw new UsageException(
                    $"import {e.ImportId} named '{e.Name}' is {e.State.Name()}, and it writes the state as its files commit: nothing was reset. " +
                    $"Wait for it to end (ingest status {e.ImportId}) or cancel it (ingest cancel {e.ImportId}), then reset");
            }
            if (reset is (0, false, false))
            {
                await context.Error.WriteLineAsync(key is null
                    ? $"no incremental state for '{importName}': nothing to reset"
                    : $"'{key}' has no entry in the state of '{importName}' (ingest state {importName} lists its files)");
                return ExitCodes.NotFound;
            }
            var entries = reset.Files == 1 ? "1 file entry" : $"{reset.Files} file entries";
            await context.Out.WriteLineAsync(key is null
                ? $"reset '{importName}': {entries}{(reset.Cursor ? " and its cursor" : "")}{(reset.Spec ? " and the spec they were written under" : "")} cleared; its next import loads everything"
                : $"reset '{importName}': '{key}' cleared ({entries}); its next import loads it");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
