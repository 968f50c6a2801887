using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// An incremental import of a SQL source as its spec gives it: the cursor and tie-break columns
/// (<see cref="CursorSpec"/>) and the bound its planning fixed (<see cref="SourceSpec.Since"/>; null or
/// a JSON null: none, every row with a cursor is read). What they hold is known once a session
/// describes them (<see cref="SqlSession.NarrowAsync"/>), which makes the <see cref="SqlWindow"/>.
/// </summary>
public sealed record SqlIncrement(CursorSpec Cursor, JsonElement? Since)
{
    /// <summary>The increment of an import read by cursor; null for any other.</summary>
    public static SqlIncrement? Of(SourceSpec source) => source.Cursor is { TieBreak: not null } cursor ? new SqlIncrement(cursor, source.Since) : null;

    /// <summary>The tie-break column.</summary>
    public string TieBreak => Cursor.TieBreak!;
}
