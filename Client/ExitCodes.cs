namespace Ingest.Client;

/// <summary>The console's exit codes (sysexits.h where one fits).</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The import ended failed, cancelled, or with failed units.</summary>
    public const int ImportNotCompleted = 1;
    /// <summary>Bad usage, an invalid spec, or a submit while an import of the same name has not ended; nothing was stored.</summary>
    public const int Usage = 64;
    /// <summary>No such import.</summary>
    public const int NotFound = 66;
    /// <summary>The database could not be reached, or refused the connection (no such database, role or password).</summary>
    public const int Unavailable = 69;
    /// <summary>An unexpected error: one line with its cause on stderr, the details with <c>--verbose</c>.</summary>
    public const int Software = 70;
    /// <summary>Interrupted (Ctrl-C) before the command ended; an import it submitted goes on.</summary>
    public const int Interrupted = 130;
}
