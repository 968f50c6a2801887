using Ingest.GrainInterfaces;

namespace Ingest.Catalog;

/// <summary>
/// The states as SQL literals, interpolated into the catalog's statements so that they read as SQL:
/// <c>WHERE u.state = {StateSql.Unit.Running}</c> is <c>WHERE u.state = 'running'</c>. Their text is
/// <see cref="StateNames"/>', the one mapping of states to names. Literals, not parameters: a
/// partial index on <c>ingest.units</c> (<c>WHERE state = 'running'</c>) serves only the statements
/// whose text implies its predicate.
/// </summary>
public static class StateSql
{
    /// <summary>An import's states (<c>ingest.imports.state</c>).</summary>
    public static class Import
    {
        public static readonly string Pending = Literal(ImportState.Pending);
        public static readonly string Running = Literal(ImportState.Running);
        public static readonly string Paused = Literal(ImportState.Paused);
        public static readonly string Completed = Literal(ImportState.Completed);
        public static readonly string CompletedWithErrors = Literal(ImportState.CompletedWithErrors);
        public static readonly string Failed = Literal(ImportState.Failed);
        public static readonly string Cancelled = Literal(ImportState.Cancelled);

        /// <summary>An import that has not ended: <c>('pending', 'running', 'paused')</c>, for <c>state IN …</c>.</summary>
        public static readonly string Unfinished = List(Pending, Running, Paused);
    }

    /// <summary>A unit's states (<c>ingest.units.state</c>).</summary>
    public static class Unit
    {
        public static readonly string Pending = Literal(UnitState.Pending);
        public static readonly string Running = Literal(UnitState.Running);
        public static readonly string Done = Literal(UnitState.Done);
        public static readonly string Failed = Literal(UnitState.Failed);
        public static readonly string Cancelled = Literal(UnitState.Cancelled);

        /// <summary>A unit that has not ended: <c>('pending', 'running')</c>, for <c>state IN …</c>.</summary>
        public static readonly string Open = List(Pending, Running);
    }

    /// <summary>The state as an SQL literal, e.g. <c>'completed_with_errors'</c>.</summary>
    public static string Literal(ImportState state) => Quoted(state.Name());

    /// <summary>The state as an SQL literal, e.g. <c>'done'</c>.</summary>
    public static string Literal(UnitState state) => Quoted(state.Name());

    // A name holds only lower-case letters and underscores: nothing to escape.
    private static string Quoted(string name) => $"'{name}'";

    private static string List(params string[] literals) => $"({string.Join(", ", literals)})";
}
