using System.CommandLine;
using Ingest.Catalog;
using Ingest.Client.Output;
using Ingest.Engine;
using Ingest.GrainInterfaces;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary>
/// <c>ingest schedule add SPEC | list [--json] | remove NAME | pause NAME | resume NAME</c>: imports
/// the cluster submits at the times of their spec's <c>schedule</c>.
/// </summary>
public static class ScheduleCommand
{
    public static Command Build(ClientContext context)
    {
        var command = new Command("schedule", "Imports the cluster submits on a cron schedule (the spec's \"schedule\", UTC unless \"timeZone\")");

        var spec = CommandRunner.SpecArgument();
        var add = new Command("add", "Register (or replace) the schedule of a spec; the silos submit it at each time") { spec };
        add.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var parsed = ImportSpecParser.ParseFile(result.GetValue(spec)!.FullName);
            if (parsed.Schedule is null) throw new UsageException($"{result.GetValue(spec)!.Name} has no \"schedule\": add a cron expression such as \"0 2 * * *\"");
            var next = CronSchedule.Parse(parsed.Schedule, parsed.TimeZone, out _)!.NextAfter(DateTimeOffset.UtcNow)
                       ?? throw new UsageException($"schedule '{parsed.Schedule}' is never due again");
            await TransientErrors.Pipeline.ExecuteAsync(async t => await SchemaMigrator.MigrateAsync(context.DataSource, t), ct);
            await new Schedules(context.DataSource).AddAsync(parsed, next, ct);
            await context.Out.WriteLineAsync($"schedule '{parsed.Name}' registered: '{parsed.Schedule}' ({parsed.TimeZone ?? "UTC"}), next at {next.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}");
            return ExitCodes.Ok;
        }, ct));

        var json = new Option<bool>("--json") { Description = "Print JSON on stdout" };
        var list = new Command("list", "The registered schedules: next time, runs, runs skipped, the last import") { json };
        list.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var schedules = await CommandRunner.ReadAsync(() => new Schedules(context.DataSource).ListAsync(ct), []);
            if (result.GetValue(json)) { Json.Write(context.Out, schedules); return ExitCodes.Ok; }
            var table = new Table().Border(TableBorder.Simple);
            table.AddColumns("name", "schedule", "time zone", "state", "next", "runs", "skipped", "last import", "last skipped");
            foreach (var s in schedules)
                table.AddRow(Markup.Escape(s.Name), Markup.Escape(s.Cron), Markup.Escape(s.TimeZone), s.Paused ? "paused" : "active",
                    $"{s.NextAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}", s.Runs.ToString(), s.Skipped.ToString(), s.LastImportId?.ToString() ?? "", Markup.Escape(s.LastSkip ?? ""));
            context.OutConsole.Write(table);
            return ExitCodes.Ok;
        }, ct));

        command.Add(add);
        command.Add(list);
        command.Add(Change(context, "remove", "Remove a schedule (imports it submitted stay)", (s, name, ct) => s.RemoveAsync(name, ct), "removed"));
        command.Add(Change(context, "pause", "Pause a schedule: nothing is submitted until it resumes", (s, name, ct) => s.SetPausedAsync(name, true, ct), "paused"));
        command.Add(Change(context, "resume", "Resume a paused schedule", (s, name, ct) => s.SetPausedAsync(name, false, ct), "resumed"));
        return command;
    }

    private static Command Change(ClientContext context, string verb, string description, Func<Schedules, string, CancellationToken, Task<bool>> change, string done)
    {
        var name = new Argument<string>("name") { Description = "The schedule's (import's) name" };
        var command = new Command(verb, description) { name };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var scheduleName = result.GetValue(name)!;
            if (!await change(new Schedules(context.DataSource), scheduleName, ct))
            {
                await context.Error.WriteLineAsync($"no schedule named '{scheduleName}' (see 'ingest schedule list')");
                return ExitCodes.NotFound;
            }
            await context.Out.WriteLineAsync($"schedule '{scheduleName}' {done}");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
