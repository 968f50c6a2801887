using System.Text.RegularExpressions;

namespace Ingest.GrainInterfaces;

/// <summary>
/// Identifiers that come from a spec. Only plain names are accepted, and they are still always
/// quoted where they reach SQL, so a spec can never inject SQL.
/// </summary>
public static partial class SqlIdentifier
{
    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex Plain();

    /// <summary>Whether <paramref name="name"/> is a plain identifier of at most 63 characters.</summary>
    public static bool IsValid(string? name) => name is not null && Plain().IsMatch(name);

    /// <summary>The identifier double-quoted for SQL; throws when it is not valid.</summary>
    public static string Quote(string name) =>
        IsValid(name) ? "\"" + name + "\"" : throw new ArgumentException($"'{name}' is not a valid identifier", nameof(name));
}
