using System.CommandLine;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Client.Commands;

/// <summary>
/// Runs a command's body and decides, in this one place, what every failure tells the user: a
/// message on stderr and an exit code, never a stack trace (that only with <c>--verbose</c>).
/// </summary>
public static class CommandRunner
{
    /// <summary>The SPEC argument of the commands that read a spec file.</summary>
    public static Argument<FileInfo> SpecArgument() => new("spec") { Description = "The import spec, JSON or YAML (.yaml/.yml)" };

    public static async Task<int> RunAsync(ClientContext context, Func<Task<int>> body, CancellationToken cancellationToken)
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
        catch (Exception e) when (e is Engine.SourceDataException or Engine.Sources.Http.HttpFetchException)
        {
            // A dry run that cannot read its source (a missing folder, a malformed file, an API refusing it).
            await context.Error.WriteLineAsync(e.Message);
            return ExitCodes.ImportNotCompleted;
        }
        catch (UsageException e)
        {
            await context.Error.WriteLineAsync(e.Message);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }
        catch (Exception e) when (Unreachable(e) is { } npgsql)
        {
            await context.Error.WriteLineAsync(npgsql is PostgresException
                ? $"the database in INGEST_DB ({context.DatabaseAddress}) refused the connection: {Cause(npgsql)}; check INGEST_DB"
                : $"cannot reach the database in INGEST_DB ({context.DatabaseAddress}): {Cause(npgsql)}; check that PostgreSQL runs there and that INGEST_DB names it");
            await DetailsAsync(context, e);
            return ExitCodes.Unavailable;
        }
        catch (Exception e)
        {
            await context.Error.WriteLineAsync($"unexpected error: {Cause(e)}{(context.Verbose ? "" : " (--verbose shows the details)")}");
            await DetailsAsync(context, e);
            return ExitCodes.Software;
        }
    }

    /// <summary>
    /// A catalog read that answers as an empty catalog would when the database has no catalog yet
    /// (no silo has started on it and nothing was submitted): its tables do not exist. Reading never
    /// creates them.
    /// </summary>
    public static async Task<T> ReadAsync<T>(Func<Task<T>> read, T nothingStored)
    {
        try
        {
            return await read();
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return nothingStored;
        }
    }

    // The database did not answer (refused, timed out, restarting) or refused the session: no such
    // database, role or password. Either way INGEST_DB or the server needs fixing, not the command.
    private static NpgsqlException? Unreachable(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is PostgresException pg)
                return pg.IsTransient || pg.SqlState == PostgresErrorCodes.InvalidCatalogName
                    || pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("28", StringComparison.Ordinal) ? pg : null;
            if (x is NpgsqlException npgsql) return npgsql;
        }
        return null;
    }

    // The exception's message and its causes', on one line, each said once.
    private static string Cause(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            var message = x is PostgresException pg ? $"{pg.SqlState}: {pg.MessageText}" : x.Message;
            message = string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).TrimEnd('.');
            if (message.Length > 0 && !parts.Any(p => p.Contains(message, StringComparison.Ordinal))) parts.Add(message);
        }
        return parts.Count > 0 ? string.Join(": ", parts) : e.GetType().Name;
    }

    private static async Task DetailsAsync(ClientContext context, Exception e)
    {
        if (context.Verbose) await context.Error.WriteLineAsync(e.ToString());
    }
}
