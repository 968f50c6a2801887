using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// The columns of a SQL source that an import reads: the first segment of every path the target
/// maps (a json column walked with dotted paths is read whole), the paths of its dimensions and
/// children, its content hash's fields, the splitBy column, and an incremental import's cursor and
/// tie-break columns (whose pair each row's reader computes, mapped or not). Null: every column (a path <c>$</c>,
/// the whole row). Naming them in the query makes a missing one fail with the engine's message.
/// </summary>
public static class SourceColumns
{
    public static IReadOnlyList<string>? Of(SqlSourceSpec source, TargetSpec? target, CursorSpec? cursor = null)
    {
        if (target is null) return null;
        var names = new List<string>();
        var all = false;
        void Add(string? path)
        {
            if (path is null || path.StartsWith("$key", StringComparison.Ordinal) || path.StartsWith("$index", StringComparison.Ordinal) || path.StartsWith("$value", StringComparison.Ordinal)) return;
            if (path == "$") { all = true; return; }
            var first = path.Split('.')[0];
            if (!names.Contains(first)) names.Add(first);
        }
        foreach (var column in target.Columns) Add(column.Path);
        foreach (var reference in target.References)
        {
            if (reference.Dimension.Path is { } dimensionPath) Add(dimensionPath);
            else foreach (var column in reference.Dimension.Columns) Add(column.Path);
        }
        foreach (var child in target.Children) Add(child.Path);
        foreach (var field in target.Dedup?.Hash ?? []) Add(field);
        if (all) return null;
        if (source.SplitBy is { } key && !names.Contains(key)) names.Add(key);
        foreach (var column in (string?[])[cursor?.TieBreak is null ? null : cursor.Path, cursor?.TieBreak])
            if (column is not null && !names.Contains(column)) names.Add(column);
        return names;
    }
}
