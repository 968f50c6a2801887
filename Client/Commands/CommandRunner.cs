using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Client.Commands;

/// <summary>Runs a command's body, turning expected failures into a message on stderr and an exit code.</summary>
public static class CommandRunner
{
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
