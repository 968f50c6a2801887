using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ingest.GrainInterfaces;

// source with kind 'sql': a table or query of a database, and how it is split into key ranges.
public static partial class ImportSpecParser
{
    [GeneratedRegex(@"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")]
    private static partial Regex EnvironmentOnly();

    private static SourceSpec? ReadSqlSource(JsonObject s, List<string> p)
    {
        const string where = "source";
        var engineText = RequiredString(s, "engine", where + ".engine", p);
        SqlEngine? engine = engineText is not null && SqlSourceSpec.EngineNames.TryGetValue(engineText, out var e) ? e : null;
        if (engineText is not null && engine is null)
            p.Add($"{where}.engine: unknown engine '{engineText}' (expected {string.Join(", ", SqlSourceSpec.EngineNames.Keys)})");
        var connection = RequiredString(s, "connection", where + ".connection", p);
        // A literal connection string would store its password with the import.
        if (connection is not null && !EnvironmentOnly().IsMatch(connection))
            p.Add($"{where}.connection: must name a variable of the silos' environment that holds the connection string, like \"${{SHOP_DB}}\", so that credentials are never stored");
        var table = OptionalString(s, "table", where + ".table", p);
        var query = OptionalString(s, "query", where + ".query", p);
        if (table is null == (query is null)) p.Add($"{where}: give either table (a table or schema.table) or query (a SELECT), not {(table is null ? "neither" : "both")}");
        if (table is not null && !(table.Split('.') is { Length: 1 or 2 } parts && parts.All(SqlIdentifier.IsValid)))
            p.Add($"{where}.table: '{table}' is not a table name or schema.table ({IdentifierRule})");
        if (query is { Length: 0 } || (query is not null && string.IsNullOrWhiteSpace(query))) p.Add($"{where}.query: must not be empty");

        var splitBy = OptionalString(s, "splitBy", where + ".splitBy", p);
        if (splitBy is not null && !SqlIdentifier.IsValid(splitBy)) p.Add($"{where}.splitBy: '{splitBy}' {IdentifierRule}");
        int? ranges = s.ContainsKey("ranges") ? OptionalInt(s, "ranges", where + ".ranges", 1, p) : null;
        long? rowsPerRange = s.ContainsKey("rowsPerRange") ? OptionalLong(s, "rowsPerRange", where + ".rowsPerRange", 1, p) : null;
        if (ranges is < 1 or > 100_000) p.Add($"{where}.ranges: must be between 1 and 100000");
        if (rowsPerRange is < 1) p.Add($"{where}.rowsPerRange: must be at least 1");
        var splitText = OptionalString(s, "split", where + ".split", p);
        var split = splitText switch
        {
            null or "equal" => KeySplit.Equal,
            "quantiles" => KeySplit.Quantiles,
            _ => Problem(p, $"{where}.split: '{splitText}' is not 'equal' (equal-width ranges) or 'quantiles' (skewed keys)", KeySplit.Equal),
        };
        if (splitBy is not null && ranges is null == (rowsPerRange is null))
            p.Add($"{where}: splitBy needs either ranges (how many) or rowsPerRange (about how many rows each), not {(ranges is null ? "neither" : "both")}");
        if (splitBy is null && (ranges is not null || rowsPerRange is not null || splitText is not null))
            p.Add($"{where}.splitBy: required with ranges, rowsPerRange or split (the column whose values are cut into ranges)");
        var chunkRows = OptionalInt(s, "chunkRows", where + ".chunkRows", SourceSpec.DefaultChunkRows, p);
        if (chunkRows < 1) p.Add($"{where}.chunkRows: must be at least 1");
        var cursor = ReadSqlCursor(s["incremental"], p);
        Unknown(s, where, p, "kind", "engine", "connection", "table", "query", "splitBy", "ranges", "rowsPerRange", "split", "chunkRows", "incremental");
        if (engine is null || connection is null || (table is null && query is null)) return null;
        return new SourceSpec(SourceKind.Sql, null, null, null, "", null, ChunkRows: chunkRows, Incremental: cursor is not null, Cursor: cursor,
            Sql: new SqlSourceSpec(engine.Value, connection, table, query, splitBy, ranges, rowsPerRange, split));
    }

    // source.incremental of a SQL source: the cursor column, the column that orders the rows sharing one cursor value, and the lag.
    private static CursorSpec? ReadSqlCursor(JsonNode? node, List<string> p)
    {
        const string where = "source.incremental";
        if (node is null) return null;
        if (node is not JsonObject o)
        {
            p.Add($"{where}: for a SQL source, an object with cursor, tieBreak and lagSeconds " +
                  "(like { \"cursor\": \"updated_at\", \"tieBreak\": \"id\", \"lagSeconds\": 30 }; true is for files)");
            return null;
        }
        var cursor = RequiredString(o, "cursor", where + ".cursor", p);
        if (cursor is not null && !SqlIdentifier.IsValid(cursor)) p.Add($"{where}.cursor: '{cursor}' {IdentifierRule}");
        string? tieBreak = null;
        if (o["tieBreak"] is null)
            p.Add($"{where}.tieBreak: required: a column unique among the rows that share one {cursor ?? "cursor"} value (the key, like \"id\"). " +
                  "Many rows can share a cursor value (one transaction's updates); an import that stopped between them would, by the cursor alone, " +
                  "skip the rest or read them all again: the pair (cursor, tieBreak) resumes exactly");
        else
        {
            tieBreak = RequiredString(o, "tieBreak", where + ".tieBreak", p);
            if (tieBreak is not null && !SqlIdentifier.IsValid(tieBreak)) p.Add($"{where}.tieBreak: '{tieBreak}' {IdentifierRule}");
            if (tieBreak is not null && tieBreak == cursor) p.Add($"{where}.tieBreak: must be another column than the cursor ('{cursor}')");
        }
        var lag = OptionalDouble(o, "lagSeconds", where + ".lagSeconds", 0, p);
        if (lag < 0 || double.IsInfinity(lag) || double.IsNaN(lag)) p.Add($"{where}.lagSeconds: must not be negative (seconds the source's clock is held back at planning; 0 for none)");
        Unknown(o, where, p, "cursor", "tieBreak", "lagSeconds");
        return cursor is null || tieBreak is null ? null : new CursorSpec(cursor, null, null, lag, tieBreak);
    }
}
