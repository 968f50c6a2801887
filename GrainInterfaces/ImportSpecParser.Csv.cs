using System.Text.Json.Nodes;

namespace Ingest.GrainInterfaces;

// source.csv, and what a CSV import's columns may name.
public static partial class ImportSpecParser
{
    private static CsvSpec? ReadCsv(JsonNode? node, List<string> p)
    {
        const string where = "source.csv";
        if (node is null) return null;
        if (node is not JsonObject c) { p.Add($"{where}: must be an object (delimiter, quote, escape, header, encoding, skipRows, comment, nullValues)"); return null; }
        var delimiter = OptionalString(c, "delimiter", where + ".delimiter", p);
        if (delimiter is not null && !IsCsvCharacter(delimiter)) p.Add($"{where}.delimiter: one ASCII character other than a line break, such as \",\", \";\", \"\\t\" or \"|\" (absent: detected)");
        var quote = OptionalString(c, "quote", where + ".quote", p) ?? "\"";
        if (quote.Length > 0 && !IsCsvCharacter(quote)) p.Add($"{where}.quote: one ASCII character, or \"\" for files whose fields are never quoted");
        var escape = OptionalString(c, "escape", where + ".escape", p);
        if (escape is not null && escape != quote && escape != "\\")
            p.Add($"{where}.escape: the quote character (RFC 4180: a quote is doubled) or \"\\\\\" (a backslash escapes)");
        var header = OptionalBool(c, "header", where + ".header", true, p);
        var encoding = OptionalString(c, "encoding", where + ".encoding", p) ?? "utf-8";
        var known = CsvSpec.Encodings.FirstOrDefault(e => e.Equals(encoding, StringComparison.OrdinalIgnoreCase)
                                                         || (e == "utf-8" && encoding.Equals("utf8", StringComparison.OrdinalIgnoreCase))
                                                         || (e == "latin1" && encoding.Equals("iso-8859-1", StringComparison.OrdinalIgnoreCase))
                                                         || (e == "windows-1252" && encoding.Equals("cp1252", StringComparison.OrdinalIgnoreCase)));
        if (known is null) p.Add($"{where}.encoding: unknown encoding '{encoding}' (expected {string.Join(", ", CsvSpec.Encodings)})");
        var skipRows = OptionalInt(c, "skipRows", where + ".skipRows", 0, p);
        if (skipRows < 0) p.Add($"{where}.skipRows: must not be negative");
        var comment = OptionalString(c, "comment", where + ".comment", p);
        if (comment is not null && (!IsCsvCharacter(comment) || comment == delimiter || comment == quote)) p.Add($"{where}.comment: one ASCII character, not the delimiter or the quote");
        var nullValues = c.ContainsKey("nullValues") ? ReadStrings(c["nullValues"], where + ".nullValues", p) : null;
        Unknown(c, where, p, "delimiter", "quote", "escape", "header", "encoding", "skipRows", "comment", "nullValues");
        return new CsvSpec(delimiter, quote, escape == quote ? null : escape, header, known ?? "utf-8", skipRows, comment, nullValues);
    }

    private static bool IsCsvCharacter(string s) => s.Length == 1 && s[0] < 128 && s[0] is not ('\r' or '\n');

    // A CSV import names the fields of its rows by header or by position, throughout; its rows
    // hold no nested objects or collections.
    private static void CheckCsvColumns(SourceSpec source, TargetSpec target, List<string> p)
    {
        if (!source.IsCsv()) return;
        if (target.Children.Count > 0) p.Add("target.children: a CSV row has no nested collections; load each related table from its own files");
        var columns = target.Columns.Select(c => ("target.columns." + c.Name, c))
            .Concat(target.References.SelectMany((r, i) => r.Dimension.Columns.Select(c => ($"target.references[{i}].dimension.columns.{c.Name}", c))))
            .ToList();
        var named = columns.Where(c => c.c.Path is { } path && path != "$").ToList();
        var positional = columns.Where(c => c.c.Field is not null).ToList();
        if (named.Count > 0 && positional.Count > 0)
            p.Add($"{positional[0].Item1}.field: this spec names fields by header ({named[0].Item1}.path); name them all by header or all by position");
        else if (named.Count > 0 && source.Csv is { Header: false })
            p.Add($"{named[0].Item1}.path: source.csv.header is false, so fields have no names; give each column its position with 'field'");
        if (target.Dedup is { } dedup && positional.Count > 0)
            foreach (var field in dedup.Hash)
                if (field != "$" && !(int.TryParse(field, out var n) && n >= 1))
                    p.Add($"target.dedup.hash: '{field}': this spec names fields by position, so hash positions (\"1\", \"2\", …) or \"$\"");
    }
}
