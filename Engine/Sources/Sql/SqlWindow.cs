using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// The rows an incremental import of a SQL source reads: those whose pair (cursor, tieBreak) is
/// greater than <see cref="After"/> (the pair the last completed import of the name committed; null:
/// none) and whose cursor is below <see cref="Before"/> (the source's clock less the lag at planning;
/// null: no upper bound). A row whose cursor or tie-break is NULL is never read. Values are in
/// <see cref="KeyValues"/>' canonical text, and reach the SQL only as literals written from parsed values.
/// <para>
/// The bound is stored as <c>{"after": [cursor, tieBreak] | null, "before": "timestamp" | null}</c>
/// (<see cref="Since"/>), and each row's pair is written as a JSON array (<see cref="Pair"/>): numbers
/// as JSON numbers, dates and times as fixed-width text, so that C# (ordinal text) and PostgreSQL's
/// jsonb (<c>greatest</c>) order them alike.
/// </para>
/// </summary>
public sealed record SqlWindow(string Cursor, KeyKind CursorKind, string TieBreak, KeyKind TieKind, string? AfterCursor, string? AfterTie, string? Before)
{
    /// <summary>The window of <paramref name="increment"/> once its columns' kinds are known.</summary>
    /// <exception cref="SourceDataException">The bound is not of the shape planning writes (a store written by something else).</exception>
    public static SqlWindow Of(SqlIncrement increment, KeyKind cursorKind, KeyKind tieKind)
    {
        string? afterCursor = null, afterTie = null, before = null;
        if (increment.Since is { ValueKind: JsonValueKind.Object } since)
        {
            if (since.TryGetProperty("after", out var after) && after.ValueKind != JsonValueKind.Null)
            {
                if (after.ValueKind != JsonValueKind.Array || after.GetArrayLength() != 2 || Text(after[0]) is not { } c || Text(after[1]) is not { } t)
                    throw new SourceDataException($"the committed cursor {after.GetRawText()} is not a pair [{increment.Cursor.Path}, {increment.TieBreak}]; " +
                                                  "clear it with ingest reset NAME, or load with submit --full", kind: ErrorKind.Import);
                (afterCursor, afterTie) = (c, t);
            }
            if (since.TryGetProperty("before", out var b) && b.ValueKind == JsonValueKind.String) before = b.GetString();
        }
        var window = new SqlWindow(increment.Cursor.Path, cursorKind, increment.TieBreak, tieKind, afterCursor, afterTie, before);
        window.Check();
        return window;
    }

    /// <summary>The bound an import reads within, as <c>ingest.imports.since</c> keeps it.</summary>
    public static JsonElement Since(JsonElement? after, string? before) =>
        JsonSerializer.SerializeToElement(new Dictionary<string, object?> { ["after"] = after, ["before"] = before });

    /// <summary>The condition on the relation <c>q</c>'s columns (<see cref="SourceSql.Column"/>).</summary>
    public string Where(SourceSql sql)
    {
        var (c, t) = (sql.Column(Cursor), sql.Column(TieBreak));
        var where = $"{c} IS NOT NULL AND {t} IS NOT NULL";
        if (AfterCursor is not null)
        {
            var (ac, at) = (KeyValues.Literal(CursorKind, AfterCursor), KeyValues.Literal(TieKind, AfterTie!));
            where += $" AND ({c} > {ac} OR ({c} = {ac} AND {t} > {at}))";
        }
        if (Before is not null) where += $" AND {c} < {BeforeLiteral}";
        return where;
    }

    // The upper bound as the cursor's kind reads it (a date: the day the clock was in).
    private string BeforeLiteral => CursorKind == KeyKind.Date
        ? KeyValues.Literal(KeyKind.Date, Before![..10])
        : KeyValues.Literal(CursorKind, Before!);

    // Every value parses as its kind, before any SQL is written.
    private void Check()
    {
        if (AfterCursor is not null) _ = (KeyValues.Literal(CursorKind, AfterCursor), KeyValues.Literal(TieKind, AfterTie!));
        if (Before is not null) _ = BeforeLiteral;
    }

    /// <summary>Writes a row's pair, from the values as the driver gives them, as a JSON array.</summary>
    public void Pair(Utf8JsonWriter writer, object cursor, object tieBreak)
    {
        writer.WriteStartArray();
        KeyValues.WriteJson(writer, CursorKind, KeyValues.Canonical(CursorKind, cursor));
        KeyValues.WriteJson(writer, TieKind, KeyValues.Canonical(TieKind, tieBreak));
        writer.WriteEndArray();
    }

    /// <summary>The kinds a cursor or tie-break column may be, for messages.</summary>
    public const string Kinds = "an integer, numeric, date, timestamp or timestamptz column";

    // A committed value's canonical text: a number as written, a string as it is.
    private static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.String => value.GetString(),
        _ => null,
    };
}
