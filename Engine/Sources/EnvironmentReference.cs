using System.Text.RegularExpressions;

namespace Ingest.Engine.Sources;

/// <summary>
/// Resolves <c>${ENV_VAR}</c> references in spec strings on the node that runs them,
/// so that secrets stay in the environment and never reach the stored spec or the logs.
/// </summary>
public static partial class EnvironmentReference
{
    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Reference();

    public static string Resolve(string value) => Reference().Replace(value, m =>
        Environment.GetEnvironmentVariable(m.Groups[1].Value)
        ?? throw new SourceDataException($"environment variable '{m.Groups[1].Value}' referenced by the spec is not set on this node", kind: ErrorKind.Import));
}
