using System.Collections.Frozen;
using System.Text.Json;

namespace Ingest.GrainInterfaces;

/// <summary>
/// The one mapping between the states (<see cref="ImportState"/>, <see cref="UnitState"/>) and their
/// names: the text of the catalog's <c>state</c> columns (their CHECK constraints list the same
/// names, which a test checks), of JSON (<c>status --json</c>, <c>list --json</c>) and of the console.
/// A state's name is its member's in snake_case: <c>CompletedWithErrors</c> is <c>completed_with_errors</c>.
/// </summary>
public static class StateNames
{
    /// <summary>The import state's name, e.g. <c>completed_with_errors</c>.</summary>
    public static string Name(this ImportState state) => Names<ImportState>.Of(state);

    /// <summary>The unit state's name, e.g. <c>done</c>.</summary>
    public static string Name(this UnitState state) => Names<UnitState>.Of(state);

    /// <summary>The import state named <paramref name="name"/>; <see cref="FormatException"/> when none is.</summary>
    public static ImportState ToImportState(string name) => Names<ImportState>.Parse(name);

    /// <summary>The unit state named <paramref name="name"/>; <see cref="FormatException"/> when none is.</summary>
    public static UnitState ToUnitState(string name) => Names<UnitState>.Parse(name);

    /// <summary>Each state enum's names, worked out once.</summary>
    internal static class Names<TState> where TState : struct, Enum
    {
        private static readonly FrozenDictionary<TState, string> ByState =
            Enum.GetValues<TState>().ToFrozenDictionary(s => s, s => JsonNamingPolicy.SnakeCaseLower.ConvertName(s.ToString()));

        private static readonly FrozenDictionary<string, TState> ByName =
            ByState.ToFrozenDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);

        public static string Of(TState state) =>
            ByState.TryGetValue(state, out var name) ? name : throw new ArgumentOutOfRangeException(nameof(state), state, $"not a {typeof(TState).Name}");

        public static bool TryParse(string name, out TState state) => ByName.TryGetValue(name, out state);

        public static TState Parse(string name) => TryParse(name, out var state) ? state
            : throw new FormatException($"'{name}' is not a {typeof(TState).Name} (one of {string.Join(", ", ByState.Values)})");
    }
}
