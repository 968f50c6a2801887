using System.CommandLine;
using Ingest.Client.Commands;

namespace Ingest.Client;

/// <summary>The whole command tree, declared in one place.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        await using var context = new ClientContext(stdout, stderr);
        var verbose = new Option<bool>("--verbose") { Description = "On an error, print its full details too", Recursive = true };
        var root = new RootCommand("ingest: submit and follow imports into PostgreSQL (INGEST_DB names the database)")
        {
            verbose,
            SubmitCommand.Build(context),
            StatusCommand.Build(context),
            ListCommand.Build(context),
            ControlCommand.Build(context, "pause", "Pause an import: no new unit starts; units in flight finish", (c, id, ct) => c.PauseAsync(id, ct)),
            ControlCommand.Build(context, "resume", "Resume a paused import", (c, id, ct) => c.ResumeAsync(id, ct)),
            ControlCommand.Build(context, "cancel", "Cancel an import; units in flight are rolled back", (c, id, ct) => c.CancelAsync(id, ct)),
            ControlCommand.Build(context, "retry", "Run the failed units of an ended import again (or plan again one that failed at planning)", (c, id, ct) => c.RetryAsync(id, ct)),
            StateCommand.Build(context),
            ResetCommand.Build(context),
            NodesCommand.Build(context),
            ReportCommand.Build(context),
            ScheduleCommand.Build(context),
            RejectsCommand.Build(context),
            CleanupCommand.Build(context),
            ValidateCommand.Build(context),
            DiffCommand.Build(context),
        };

        var result = root.Parse(args);
        if (result.Errors.Count > 0)
        {
            foreach (var error in result.Errors) await stderr.WriteLineAsync(error.Message);
            await stderr.WriteLineAsync("run 'ingest --help' for usage");
            return ExitCodes.Usage;
        }
        context.Verbose = result.GetValue(verbose);
        return await result.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr }, cancellationToken);
    }
}
