namespace Ingest.GrainInterfaces;

/// <summary>The table an import loads into.</summary>
/// <param name="Schema">The table's schema (default <c>public</c>).</param>
/// <param name="Table">The table's name.</param>
/// <param name="Key">
/// The columns to upsert on. Empty: every record is inserted. Present: new keys are inserted,
/// changed rows updated, identical rows left untouched and counted as unchanged.
/// </param>
/// <param name="Create">Create the table (primary key on <paramref name="Key"/>) when it does not exist.</param>
/// <param name="Columns">The target columns, in table order, each with the record field it comes from.</param>
public sealed record TargetSpec(
    string Schema,
    string Table,
    IReadOnlyList<string> Key,
    bool Create,
    IReadOnlyList<ColumnSpec> Columns);

/// <summary>One target column and the record field that fills it.</summary>
/// <param name="Name">The column name.</param>
/// <param name="Path">A dotted path into the record (<c>a.b.c</c>), or <c>$</c> for the whole record.</param>
/// <param name="Type">The column's type; values are converted to it, or the record is rejected.</param>
public sealed record ColumnSpec(string Name, string Path, ColumnType Type);

/// <summary>How often a failing unit is attempted.</summary>
/// <param name="Attempts">Attempts in all, the first included (default 3).</param>
/// <param name="BackoffSeconds">The wait before the second attempt; doubled before each later one (default 1).</param>
public sealed record RetrySpec(int Attempts, double BackoffSeconds)
{
    /// <summary>Three attempts, one second apart and doubling.</summary>
    public static RetrySpec Default { get; } = new(3, 1);
}
