using System.Text.Json.Nodes;

namespace Ingest.GrainInterfaces;

// The target: its columns, and the related tables (children, dimensions) its records fill.
public static partial class ImportSpecParser
{
    /// <summary>The key column of a date dimension.</summary>
    public const string DateDimensionKey = "date";

    private const string IdentifierRule = "is not a valid identifier (letters, digits, _; at most 63)";

    /// <summary>Where a column list sits, which decides the paths and sources it may use.</summary>
    private enum ColumnPlace { Root, Child, Dimension }

    private static readonly Dictionary<string, (UnitMeta Meta, ColumnType Type)> MetaNames = new(StringComparer.Ordinal)
    {
        ["file"] = (UnitMeta.File, ColumnType.Text),
        ["etag"] = (UnitMeta.Etag, ColumnType.Text),
        ["modified"] = (UnitMeta.Modified, ColumnType.Timestamptz),
        ["size"] = (UnitMeta.Size, ColumnType.Bigint),
        ["record_index"] = (UnitMeta.RecordIndex, ColumnType.Bigint),
        ["import_id"] = (UnitMeta.ImportId, ColumnType.Bigint),
        ["url"] = (UnitMeta.Url, ColumnType.Text),
        ["page"] = (UnitMeta.Page, ColumnType.Bigint),
        ["fetched_at"] = (UnitMeta.FetchedAt, ColumnType.Timestamptz),
        ["status"] = (UnitMeta.Status, ColumnType.Int),
        // Of messages (source.kind rabbitmq); header:NAME is a header's value.
        ["message_id"] = (UnitMeta.MessageId, ColumnType.Text),
        ["routing_key"] = (UnitMeta.RoutingKey, ColumnType.Text),
        ["exchange"] = (UnitMeta.Exchange, ColumnType.Text),
        ["timestamp"] = (UnitMeta.Timestamp, ColumnType.Timestamptz),
        ["redelivered"] = (UnitMeta.Redelivered, ColumnType.Boolean),
    };

    /// <summary>The meta names that only messages have.</summary>
    private static readonly UnitMeta[] MessageMetas = [UnitMeta.MessageId, UnitMeta.RoutingKey, UnitMeta.Exchange, UnitMeta.Timestamp, UnitMeta.Redelivered, UnitMeta.Header];

    // For CSV files (csv), a column's path is a header name, or it names a field by position.
    private static TargetSpec? ReadTarget(JsonNode? node, bool csv, List<string> p, bool sql = false)
    {
        if (node is not JsonObject t) { p.Add("target: required, an object with table and columns"); return null; }
        var table = RequiredString(t, "table", "target.table", p);
        if (table is not null && !SqlIdentifier.IsValid(table)) p.Add($"target.table: '{table}' {IdentifierRule}");
        var schema = OptionalString(t, "schema", "target.schema", p) ?? "public";
        if (!SqlIdentifier.IsValid(schema)) p.Add($"target.schema: '{schema}' {IdentifierRule}");
        var create = OptionalBool(t, "create", "target.create", false, p);
        var foreignKeys = OptionalBool(t, "foreignKeys", "target.foreignKeys", true, p);

        var tables = new HashSet<string>(StringComparer.Ordinal);
        if (table is not null) tables.Add(table);
        // "*": a SQL source's columns as they are, resolved when the import is planned.
        var all = t["columns"] is JsonValue star && star.TryGetValue(out string? asterisk) && asterisk == "*";
        if (all && !sql) p.Add("target.columns: \"*\" maps the columns of a SQL source (kind 'sql'); name the columns of files");
        if (all)
            foreach (var other in new[] { "references", "children", "dedup", "validate" })
                if (t.ContainsKey(other)) p.Add($"target.{other}: not with \"columns\": \"*\"; name the columns to use {other}");
        var columns = all ? [] : ReadColumns(t["columns"], "target.columns", ColumnPlace.Root, required: true, p, csv);
        var references = ReadReferences(t["references"], "target.references", columns, tables, inChild: false, p, csv);
        var dedup = ReadDedup(t["dedup"], columns, p, csv);
        if (dedup is not null) columns.Add(new ColumnSpec(dedup.Column, null, ColumnType.Text, Hash: dedup.Hash));
        var rowColumns = RowColumns(columns, references);
        var key = ReadNames(t["key"], "target.key", p);
        if (!all) CheckKey(key, "target.key", rowColumns, p);
        // Without a business key, identical content is the identity: records load once.
        if (dedup is not null && key.Count == 0) key.Add(dedup.Column);
        var onConflict = OptionalString(t, "onConflict", "target.onConflict", p) switch
        {
            null or "update" => ConflictAction.Update,
            "keep" => ConflictAction.Keep,
            var other => Problem(p, $"target.onConflict: '{other}' is not 'update' or 'keep'", ConflictAction.Update),
        };
        if (onConflict == ConflictAction.Keep && key.Count == 0) p.Add("target.onConflict: 'keep' needs a key (or dedup) to tell existing rows by");
        if (onConflict == ConflictAction.Keep && t.ContainsKey("children")) p.Add("target.onConflict: 'keep' is not supported with children yet");

        var children = new List<ChildSpec>();
        if (t["children"] is { } childrenNode)
        {
            if (key.Count == 0) p.Add("target.children: the target needs a key, which child rows refer to");
            var parentKey = key.Select(k => (Name: k, Type: rowColumns.GetValueOrDefault(k))).ToList();
            children = ReadChildren(childrenNode, "target.children", table ?? "target", parentKey, tables, p);
        }
        var validate = ReadValidate(t["validate"], rowColumns, p);
        var version = OptionalString(t, "versionColumn", "target.versionColumn", p);
        if (version is not null)
        {
            if (!all && !rowColumns.ContainsKey(version)) p.Add($"target.versionColumn: '{version}' is not one of target.columns");
            else if (key.Contains(version)) p.Add($"target.versionColumn: '{version}' is part of the key; name a column that orders a key's versions");
            if (key.Count == 0) p.Add("target.versionColumn: needs a key, whose rows it orders");
            if (t.ContainsKey("children") || t.ContainsKey("references")) p.Add("target.versionColumn: not supported with children or references yet");
            if (onConflict == ConflictAction.Keep) p.Add("target.versionColumn: with onConflict 'keep' rows are never updated; use one or the other");
        }
        Unknown(t, "target", p, "table", "schema", "key", "create", "foreignKeys", "columns", "references", "children", "dedup", "onConflict", "validate", "versionColumn");
        return table is null ? null : new TargetSpec(schema, table, key, create, columns, references, children, foreignKeys, dedup, onConflict, validate, version, all);
    }

    private static DedupSpec? ReadDedup(JsonNode? node, IReadOnlyList<ColumnSpec> columns, List<string> p, bool csv)
    {
        if (node is null) return null;
        if (node is not JsonObject d) { p.Add("target.dedup: must be an object with hash (record fields) and column"); return null; }
        var hash = ReadNames(d["hash"], "target.dedup.hash", p);
        if (hash.Count == 0) p.Add("target.dedup.hash: required, the record fields to hash, in order");
        foreach (var path in hash)
            if (!csv && path != "$" && (!IsDottedPath(path) || path.StartsWith('$'))) p.Add($"target.dedup.hash: '{path}' is not a dotted path into the record");
        var column = RequiredString(d, "column", "target.dedup.column", p);
        if (column is not null && !SqlIdentifier.IsValid(column)) p.Add($"target.dedup.column: '{column}' {IdentifierRule}");
        else if (column is not null && columns.Any(c => c.Name == column)) p.Add($"target.dedup.column: '{column}' is also one of target.columns; the hash column is filled by the loader");
        Unknown(d, "target.dedup", p, "hash", "column");
        return column is null || hash.Count == 0 ? null : new DedupSpec(hash, column);
    }

    private static List<ChildSpec> ReadChildren(JsonNode node, string where, string parentTable, IReadOnlyList<(string Name, ColumnType Type)> parentKey, HashSet<string> tables, List<string> p)
    {
        var children = new List<ChildSpec>();
        if (node is not JsonArray list) { p.Add($"{where}: must be a list of child tables"); return children; }
        for (var i = 0; i < list.Count; i++)
        {
            var at = $"{where}[{i}]";
            if (list[i] is not JsonObject c) { p.Add($"{at}: must be an object with table, path and columns"); continue; }
            var table = RequiredString(c, "table", at + ".table", p);
            if (table is not null)
            {
                at = $"{where}[{table}]";
                if (!SqlIdentifier.IsValid(table)) p.Add($"{at}.table: '{table}' {IdentifierRule}");
                else if (!tables.Add(table)) p.Add($"{at}.table: '{table}' names a table that the spec already uses");
            }
            var path = RequiredString(c, "path", at + ".path", p);
            if (path is not null && (!IsDottedPath(path) || path.StartsWith('$'))) p.Add($"{at}.path: '{path}' is not a dotted path to an array or object, like 'platforms' or 'data.items'");

            var columns = ReadColumns(c["columns"], at + ".columns", ColumnPlace.Child, required: false, p);
            var references = ReadReferences(c["references"], at + ".references", columns, tables, inChild: true, p);
            var own = RowColumns(columns, references);
            if (own.Count == 0) p.Add($"{at}: needs columns (or a reference with a surrogate column)");

            var parentKeyNames = c.ContainsKey("parentKey")
                ? ReadNames(c["parentKey"], at + ".parentKey", p)
                : parentKey.Select(k => $"{parentTable}_{k.Name}").ToList();
            if (parentKeyNames.Count != parentKey.Count)
                p.Add($"{at}.parentKey: names {parentKeyNames.Count} columns, but the parent's key has {parentKey.Count} ({string.Join(", ", parentKey.Select(k => k.Name))})");
            foreach (var name in parentKeyNames)
            {
                if (!SqlIdentifier.IsValid(name)) p.Add($"{at}.parentKey: '{name}' {IdentifierRule}");
                else if (own.ContainsKey(name)) p.Add($"{at}.parentKey: '{name}' is also one of the child's own columns");
            }
            if (parentKeyNames.Distinct(StringComparer.Ordinal).Count() != parentKeyNames.Count) p.Add($"{at}.parentKey: names a column twice");

            var key = ReadNames(c["key"], at + ".key", p);
            CheckKey(key, at + ".key", own, p);

            // A grandchild refers to this child's whole primary key.
            var primaryKey = parentKeyNames.Zip(parentKey, (name, k) => (name, k.Type))
                .Concat((key.Count > 0 ? key : own.Keys.ToList()).Select(k => (k, own.GetValueOrDefault(k))))
                .ToList();
            var grandchildren = c["children"] is { } nested
                ? ReadChildren(nested, at + ".children", table ?? "child", primaryKey, tables, p)
                : [];
            Unknown(c, at, p, "table", "path", "parentKey", "key", "columns", "references", "children");
            if (table is not null && path is not null)
                children.Add(new ChildSpec(table, path, parentKeyNames, key, columns, references, grandchildren));
        }
        return children;
    }

    // A dimension referenced from a child's element may read that element's $key and $index too.
    private static List<ReferenceSpec> ReadReferences(JsonNode? node, string where, IReadOnlyList<ColumnSpec> columns, HashSet<string> tables, bool inChild, List<string> p,
        bool csv = false)
    {
        var references = new List<ReferenceSpec>();
        if (node is null) return references;
        if (node is not JsonArray list) { p.Add($"{where}: must be a list of references"); return references; }
        for (var i = 0; i < list.Count; i++)
        {
            var at = $"{where}[{i}]";
            if (list[i] is not JsonObject r) { p.Add($"{at}: must be an object with columns (or column) and dimension"); continue; }
            var dimension = ReadDimension(r["dimension"], at + ".dimension", tables, inChild ? ColumnPlace.Child : ColumnPlace.Dimension, p, csv);
            var many = r.ContainsKey("columns") ? ReadNames(r["columns"], at + ".columns", p) : null;
            var one = OptionalString(r, "column", at + ".column", p);
            Unknown(r, at, p, "columns", "column", "dimension");
            if (dimension is null) continue;
            if (dimension.Kind == DimensionKind.Date)
            {
                // A calendar row per date: read where the referencing date column is read.
                var names = many ?? (one is null ? [] : [one]);
                var date = names.Count == 1 ? columns.FirstOrDefault(c => c.Name == names[0]) : null;
                if (date is not { Type: ColumnType.Date, Path: not null } && date is not { Type: ColumnType.Date, Field: not null })
                {
                    p.Add($"{at}.columns: a date dimension is referenced from one date column of the row, mapped from the record (e.g. \"columns\": [\"order_date\"])");
                    continue;
                }
                dimension = dimension with { Columns = [new ColumnSpec(DateDimensionKey, date.Path, ColumnType.Date, Format: date.Format, Field: date.Field)] };
                references.Add(new ReferenceSpec(names, dimension));
                continue;
            }

            List<string> referencing;
            if (dimension.Surrogate is not null)
            {
                if (many is not null) p.Add($"{at}.columns: dimension '{dimension.Table}' has a surrogate key; name the one column that stores it with 'column', not 'columns'");
                if (one is null) { if (many is null) p.Add($"{at}.column: required, the column that stores the surrogate '{dimension.Surrogate}'"); continue; }
                if (!SqlIdentifier.IsValid(one)) p.Add($"{at}.column: '{one}' {IdentifierRule}");
                else if (columns.Any(c => c.Name == one)) p.Add($"{at}.column: '{one}' is also mapped in columns; the surrogate column is filled by the loader");
                referencing = [one];
            }
            else
            {
                if (many is not null && one is not null) p.Add($"{at}: has both column and columns");
                referencing = many ?? (one is null ? [] : [one]);
                if (referencing.Count == 0) { p.Add($"{at}.columns: required, the columns that hold the dimension's key ({string.Join(", ", dimension.Key)})"); continue; }
                if (referencing.Count != dimension.Key.Count)
                    p.Add($"{at}.columns: names {referencing.Count} columns, but dimension '{dimension.Table}' has a key of {dimension.Key.Count} ({string.Join(", ", dimension.Key)})");
                foreach (var (name, keyName) in referencing.Zip(dimension.Key))
                {
                    var column = columns.FirstOrDefault(c => c.Name == name);
                    var keyColumn = dimension.Columns.FirstOrDefault(c => c.Name == keyName);
                    if (column is null) p.Add($"{at}.columns: '{name}' is not one of the columns it sits beside");
                    else if (keyColumn is not null && keyColumn.Type != column.Type)
                        p.Add($"{at}.columns: '{name}' is {column.Type.ToSpecName()}, but the dimension's key '{keyName}' is {keyColumn.Type.ToSpecName()}");
                }
            }
            references.Add(new ReferenceSpec(referencing, dimension));
        }
        return references;
    }

    private static DimensionSpec? ReadDimension(JsonNode? node, string where, HashSet<string> tables, ColumnPlace place, List<string> p, bool csv)
    {
        if (node is not JsonObject d) { p.Add($"{where}: required, an object with table, key and columns"); return null; }
        var table = RequiredString(d, "table", where + ".table", p);
        if (table is not null)
        {
            if (!SqlIdentifier.IsValid(table)) p.Add($"{where}.table: '{table}' {IdentifierRule}");
            else if (!tables.Add(table)) p.Add($"{where}.table: '{table}' names a table that the spec already uses");
        }
        var kind = OptionalString(d, "kind", where + ".kind", p);
        if (kind == "date")
        {
            Unknown(d, where, p, "table", "kind");
            return table is null ? null : new DimensionSpec(table, null, [DateDimensionKey], null, [], DimensionKind.Date);
        }
        if (kind is not null) p.Add($"{where}.kind: '{kind}' is not 'date' (a calendar dimension); absent for a dimension of mapped columns");
        var path = OptionalString(d, "path", where + ".path", p);
        if (path is not null && csv) p.Add($"{where}.path: a CSV row has no nested objects; the dimension's columns name fields of the row itself");
        else if (path is not null && (!IsDottedPath(path) || path.StartsWith('$'))) p.Add($"{where}.path: '{path}' is not a dotted path like 'platform' or 'meta.rating'");
        var columns = ReadColumns(d["columns"], where + ".columns", place, required: true, p, csv);
        var key = ReadNames(d["key"], where + ".key", p);
        if (key.Count == 0 && d.ContainsKey("key")) p.Add($"{where}.key: must name at least one column");
        else if (!d.ContainsKey("key")) p.Add($"{where}.key: required, the dimension's natural key");
        CheckKey(key, where + ".key", columns.ToDictionary(c => c.Name, c => c.Type), p);
        var surrogate = OptionalString(d, "surrogate", where + ".surrogate", p);
        if (surrogate is not null)
        {
            if (!SqlIdentifier.IsValid(surrogate)) p.Add($"{where}.surrogate: '{surrogate}' {IdentifierRule}");
            else if (columns.Any(c => c.Name == surrogate)) p.Add($"{where}.surrogate: '{surrogate}' is also one of the dimension's columns");
        }
        Unknown(d, where, p, "table", "kind", "path", "key", "surrogate", "columns");
        return table is null ? null : new DimensionSpec(table, path, key, surrogate, columns);
    }

    private static List<ColumnSpec> ReadColumns(JsonNode? node, string where, ColumnPlace place, bool required, List<string> p, bool csv = false)
    {
        var columns = new List<ColumnSpec>();
        if (node is null)
        {
            if (required) p.Add($"{where}: required, an object mapping each column to {{path, type}}");
            return columns;
        }
        if (node is not JsonObject cols || (required && cols.Count == 0))
        {
            p.Add($"{where}: must be an object mapping each column to {{path, type}}");
            return columns;
        }
        foreach (var (name, colNode) in cols)
        {
            var at = $"{where}.{name}";
            if (!SqlIdentifier.IsValid(name)) p.Add($"{at}: '{name}' {IdentifierRule}");
            if (colNode is not JsonObject c) { p.Add($"{at}: must be an object with path and type (or value, or meta)"); continue; }
            var sources = new[] { "path", "value", "meta", "field" }.Where(c.ContainsKey).ToArray();
            if (sources.Length != 1)
            {
                p.Add($"{at}: needs exactly one of path, value or meta{(csv ? " (or field)" : "")}{(sources.Length > 1 ? $" (has {string.Join(" and ", sources)})" : "")}");
                continue;
            }

            string? path = null, value = null;
            int? field = null;
            UnitMeta? meta = null;
            ColumnType? implied = null;
            switch (sources[0])
            {
                case "path":
                    path = RequiredString(c, "path", at + ".path", p);
                    // A CSV header name is matched exactly: dots, spaces and '$' are part of it.
                    if (path is not null && !csv && PathProblem(path, place) is { } problem) p.Add($"{at}.path: {problem}");
                    break;
                case "field":
                    field = OptionalInt(c, "field", at + ".field", 0, p);
                    if (!csv) p.Add($"{at}.field: only for CSV files (source.format csv or tsv); name a JSON field with path");
                    else if (field < 1) p.Add($"{at}.field: a field's position in its row, from 1");
                    break;
                case "value":
                    value = c["value"] switch
                    {
                        JsonValue v when v.TryGetValue(out string? s) => s,
                        JsonValue v => v.ToJsonString(),
                        _ => Problem<string?>(p, $"{at}.value: must be a string, number or boolean", null),
                    };
                    implied = ColumnType.Text;
                    break;
                default:
                    var metaName = RequiredString(c, "meta", at + ".meta", p);
                    if (metaName is "line" && csv) (meta, implied) = (UnitMeta.Line, ColumnType.Bigint);
                    else if (metaName is "line") p.Add($"{at}.meta: 'line' is only for CSV files");
                    else if (metaName is not null && MetaNames.TryGetValue(metaName, out var m)) (meta, implied) = (m.Meta, m.Type);
                    else if (metaName is not null && metaName.StartsWith("header:", StringComparison.Ordinal) && metaName.Length > 7)
                        (meta, path, implied) = (UnitMeta.Header, metaName[7..], ColumnType.Text);
                    else if (metaName is not null) p.Add($"{at}.meta: unknown '{metaName}' (expected one of {string.Join(", ", MetaNames.Keys)}, header:NAME{(csv ? ", line" : "")})");
                    break;
            }

            var typeName = implied is null ? RequiredString(c, "type", at + ".type", p) : OptionalString(c, "type", at + ".type", p);
            var type = implied ?? default;
            if (typeName is not null && !ColumnTypeNames.SpecNames.TryGetValue(typeName, out type))
                p.Add($"{at}.type: unknown type '{typeName}' (expected one of text, bigint, int, double, numeric, boolean, date, timestamptz, jsonb)");
            if (path == "$index" && type is not (ColumnType.Int or ColumnType.Bigint or ColumnType.Text))
                p.Add($"{at}.type: $index is a position; use int, bigint or text");
            var format = ReadFormat(c, at, type, p);
            Unknown(c, at, p, "path", "value", "meta", "field", "type", "trim", "nullIf", "format", "decimalSeparator");
            if (path is not null || value is not null || meta is not null || field > 0) columns.Add(new ColumnSpec(name, path, type, value, meta, Format: format, Field: field));
        }
        return columns;
    }

    private static ValueFormat? ReadFormat(JsonObject c, string at, ColumnType type, List<string> p)
    {
        if (!c.ContainsKey("trim") && !c.ContainsKey("nullIf") && !c.ContainsKey("format") && !c.ContainsKey("decimalSeparator")) return null;
        var trim = OptionalBool(c, "trim", at + ".trim", false, p);
        var nullIf = c.ContainsKey("nullIf") ? ReadStrings(c["nullIf"], at + ".nullIf", p) : null;
        var pattern = OptionalString(c, "format", at + ".format", p);
        if (pattern is not null && type is not (ColumnType.Date or ColumnType.Timestamptz or ColumnType.Timestamp)) p.Add($"{at}.format: only for a date, timestamptz or timestamp column");
        var separator = OptionalString(c, "decimalSeparator", at + ".decimalSeparator", p);
        if (separator is not null && (type is not (ColumnType.Numeric or ColumnType.Double) || separator.Length != 1))
            p.Add($"{at}.decimalSeparator: one character, only for a numeric or double column");
        return new ValueFormat(trim, nullIf, pattern, separator);
    }

    private static List<string> ReadStrings(JsonNode? node, string where, List<string> p)
    {
        if (node is JsonArray list && list.All(v => v is JsonValue s && s.TryGetValue(out string? _)))
            return list.Select(v => v!.GetValue<string>()).ToList();
        p.Add($"{where}: must be a list of strings");
        return [];
    }

    // Null when the path is fine where it is.
    private static string? PathProblem(string path, ColumnPlace place)
    {
        if (path == "$") return null;
        if (path is "$key" or "$value" or "$index" || path.StartsWith("$value.", StringComparison.Ordinal))
        {
            if (place == ColumnPlace.Child) return path == "$value." ? $"'{path}' is not a dotted path" : IsDottedPath(path) ? null : $"'{path}' is not a dotted path";
            return $"'{path}' is only meaningful in a child's columns (the element of an array or map)";
        }
        if (!IsDottedPath(path)) return $"'{path}' is not a dotted path like 'a.b' or '$'";
        var odd = path.Split('.').FirstOrDefault(s => s.StartsWith('$'));
        return odd is null ? null : $"'{odd}' in '{path}' is not a field name ($, $key, $value and $index stand alone, or $value leads a path)";
    }

    // The columns of a row: its own, and the surrogate columns its references fill.
    private static Dictionary<string, ColumnType> RowColumns(IReadOnlyList<ColumnSpec> columns, IReadOnlyList<ReferenceSpec> references)
    {
        var row = new Dictionary<string, ColumnType>(StringComparer.Ordinal);
        foreach (var c in columns) row.TryAdd(c.Name, c.Type);
        foreach (var r in references)
            if (r.Dimension.Surrogate is not null) row.TryAdd(r.Columns[0], ColumnType.Bigint);
        return row;
    }

    private static void CheckKey(IReadOnlyList<string> key, string where, IReadOnlyDictionary<string, ColumnType> columns, List<string> p)
    {
        foreach (var k in key)
            if (!columns.ContainsKey(k)) p.Add($"{where}: '{k}' is not a mapped column");
        if (key.Distinct(StringComparer.Ordinal).Count() != key.Count) p.Add($"{where}: names a column twice");
    }

    // A list of column names, or one name as a string.
    private static List<string> ReadNames(JsonNode? node, string where, List<string> p)
    {
        var names = new List<string>();
        switch (node)
        {
            case null: break;
            case JsonArray arr:
                foreach (var item in arr)
                {
                    if (item is JsonValue v && v.TryGetValue(out string? s) && s.Length > 0) names.Add(s);
                    else p.Add($"{where}: must be a list of column names");
                }
                break;
            case JsonValue v when v.TryGetValue(out string? single) && single.Length > 0:
                names.Add(single);
                break;
            default: p.Add($"{where}: must be a list of column names"); break;
        }
        return names;
    }

    private static bool OptionalBool(JsonObject o, string name, string where, bool fallback, List<string> p) => o[name] switch
    {
        null => fallback,
        JsonValue v when v.TryGetValue(out bool b) => b,
        _ => Problem(p, $"{where}: must be true or false", fallback),
    };
}
