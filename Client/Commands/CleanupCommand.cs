using System.CommandLine;
using Ingest.Catalog;
using Ingest.Client.Output;
using Ingest.GrainInterfaces;

namespace Ingest.Client.Commands;

/// <summary>
/// <c>ingest cleanup [--state S,…] [--older-than 30d] [--dry-run] [--json]</c>: removes ended imports
/// from the catalog (their units, rejects and events), never target data.
/// </summary>
public static class CleanupCommand
{
    public static Command Build(ClientContext context)
    {
        var states = new Option<string>("--state")
        {
            Description = "Only imports in these final states, comma-separated (default: all of them)",
            DefaultValueFactory = _ => string.Join(',', ImportCleanup.Ended.Select(s => s.Name())),
        };
        var olderThan = new Option<string>("--older-than") { Description = "Only imports that ended longer ago than this (30d, 12h, 45m; default 30d)", DefaultValueFactory = _ => "30d" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Say what would be removed; remove nothing" };
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout" };
        var command = new Command("cleanup", "Remove old ended imports from the catalog (units, rejects, events); target tables are never touched") { states, olderThan, dryRun, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var names = result.GetValue(states)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var unknown = names.Where(n => !ImportCleanup.Ended.Any(s => s.Name() == n)).ToList();
            if (unknown.Count > 0)
            {
                await context.Error.WriteLineAsync($"--state: {string.Join(", ", unknown)} is not a final state (expected {string.Join(", ", ImportCleanup.Ended.Select(s => s.Name()))})");
                return ExitCodes.Usage;
            }
            if (!RelativeDuration.TryParse(result.GetValue(olderThan)!, out var age))
            {
                await context.Error.WriteLineAsync($"--older-than: '{result.GetValue(olderThan)}' is not a duration like 30d, 12h or 45m");
                return ExitCodes.Usage;
            }
            var dry = result.GetValue(dryRun);
            var removed = await new ImportCleanup(context.DataSource).RunAsync([.. names.Select(StateNames.ToImportState)], age, dry, ct);
            if (result.GetValue(json)) { Json.Write(context.Out, new { dryRun = dry, imports = removed.Imports, removed.Units, removed.Rejects, removed.Events, keptUnsent = removed.Unsent }); return ExitCodes.Ok; }
            var verb = dry ? "would remove" : "removed";
            await context.Out.WriteLineAsync(removed.Imports.Count == 0
                ? $"no import in {string.Join(", ", names)} ended more than {result.GetValue(olderThan)} ago: nothing {(dry ? "would be removed" : "removed")}"
                : $"{verb} {removed.Imports.Count} imports ({string.Join(", ", removed.Imports)}): {removed.Units:N0} units, {removed.Rejects:N0} rejects, {removed.Events:N0} events; target tables untouched");
            if (removed.Unsent.Count > 0)
                await context.Out.WriteLineAsync($"kept {removed.Unsent.Count} imports ({string.Join(", ", removed.Unsent)}) until their events are sent");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
