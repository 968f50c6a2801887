using System.CommandLine;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Client.Commands;

/// <summary>Runs a command's body, turning expected failures into a message on stderr and an exit code.</summary>
public static class CommandRunner
{
    /// <summary>The SPEC argument of the commands that read a spec file.</summary>
    public static Argument<FileInfo> SpecArgument() => new("spec") { Description = "The import spec, JSON or YAML (.yaml/.yml)" };

    public static async Task<int> RunAsync(ClientContext context, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (SpecException e)
        {
            await context.Error.WriteLineAsync(e.Message);
            return ExitCodes.Usage;
        }
        catch (Engine.SourceDataException e)
        {
            // A dry run that cannot read its source (a missing folder, a malformed file).
            await context.Error.WriteLineAsync(e.Message);
            return ExitCodes.ImportNotCompleted;
        }
        catch (UsageException e)
        {
            await context.Error.WriteLineAsync(e.Message);
            return ExitCodes.Usage;
        }
        catch (NpgsqlException e) when (e is not PostgresException || e.IsTransient)
        {
            await context.Error.WriteLineAsync($"cannot reach the database in INGEST_DB: {e.Message}");
            return ExitCodes.Unavailable;
        }
    }
}
