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

    public static string Resolve(string value) => Reference().Replace(value, m => Value(m.Groups[1].Value));

    /// <summary>The variables <paramref name="value"/> references.</summary>
    public static IEnumerable<string> Names(string value) => Reference().Matches(value).Select(m => m.Groups[1].Value);

    /// <summary>A variable's value on this node.</summary>
    /// <exception cref="SourceDataException">It is not set.</exception>
    public static string Value(string name) => Environment.GetEnvironmentVariable(name)
        ?? throw new SourceDataException($"environment variable '{name}' referenced by the spec is not set on this node", kind: ErrorKind.Import);
}
