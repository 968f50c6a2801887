using System.CommandLine;
using Ingest.GrainInterfaces;

namespace Ingest.Client.Commands;

/// <summary><c>ingest pause|resume|cancel|retry ID</c>: change an import's state.</summary>
public static class ControlCommand
{
    public static Command Build(ClientContext context, string verb, string description, Func<ImportControl, long, CancellationToken, Task<ChangeResult>> change)
    {
        var id = new Argument<long>("id") { Description = "The import's id" };
        var command = new Command(verb, description) { id };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var importId = result.GetValue(id);
            var outcome = await CommandRunner.ReadAsync(() => change(context.Control, importId, ct), new ChangeResult(false, null));
            if (outcome.State is null)
            {
                await context.Error.WriteLineAsync($"no import with id {importId} (see 'ingest list')");
                return ExitCodes.NotFound;
            }
            if (!outcome.Applied)
            {
                await context.Error.WriteLineAsync(outcome.Why ?? $"import {importId} is {outcome.State.Value.Name()}: cannot {verb} it");
                return ExitCodes.Usage;
            }
            await context.Out.WriteLineAsync($"import {importId} {outcome.State.Value.Name()}");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
