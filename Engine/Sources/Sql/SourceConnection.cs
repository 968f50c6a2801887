using System.Data.Common;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// A SQL source's connection string, read from this node's environment (<c>${VAR}</c>) when a unit
/// or a plan needs it, and never written anywhere: not stored, not logged, not traced. Errors about
/// it are shown with its secrets masked.
/// </summary>
public sealed class SourceConnection
{
    private static readonly string[] SecretKeys = ["password", "pwd"];
    private readonly string[] _secrets;

    private SourceConnection(string connectionString, string[] secrets)
    {
        ConnectionString = connectionString;
        _secrets = secrets;
    }

    /// <summary>The connection string, for the driver only.</summary>
    public string ConnectionString { get; }

    /// <summary>Resolves the spec's reference on this node.</summary>
    /// <exception cref="SourceDataException">The variable is not set, or does not hold a connection string.</exception>
    public static SourceConnection Resolve(string reference)
    {
        var resolved = EnvironmentReference.Resolve(reference);
        var builder = new DbConnectionStringBuilder();
        try { builder.ConnectionString = resolved; }
        catch (ArgumentException)
        {
            // Its text may hold the password: say only where it came from.
            throw new SourceDataException($"source.connection: {reference} does not hold a connection string (Host=…;Username=…;Password=…;Database=…)", kind: ErrorKind.Import);
        }
        var secrets = SecretKeys.Where(builder.ContainsKey).Select(k => Convert.ToString(builder[k]) ?? "").Where(s => s.Length > 0).ToArray();
        return new SourceConnection(resolved, secrets);
    }

    /// <summary>A message from the driver or the server with every secret of the connection string replaced by <c>***</c>.</summary>
    public string Mask(string message)
    {
        foreach (var secret in _secrets) message = message.Replace(secret, "***", StringComparison.Ordinal);
        return message;
    }
}
