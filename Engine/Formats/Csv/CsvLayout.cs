using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Formats.Csv;

/// <summary>
/// What a CSV import reads of each row, and the target as its mappers see it. The CSV reader hands
/// the mapper each row as a small JSON object holding only the fields the spec names (each under a
/// key of its own), the row's line when a column keeps it, and the whole row when a column or the
/// content hash reads <c>$</c>; this layout rewrites the spec's paths to those keys. The JSON
/// mapping then works on CSV rows unchanged: types, formats, trim and nullIf, validation,
/// defaults, dedup, references.
/// <para>
/// A field is named by its header name, matched exactly (dots, spaces and <c>$</c> are part of
/// it, never a path), or by its 1-based position (<c>field</c>) for files without a usable header.
/// A key is the header name itself when the mapper can read it as a path (no <c>.</c>, no leading
/// <c>$</c>), so that reasons name the field as the file does; otherwise its dots become
/// U+2024 (one dot leader, which reads the same) and a leading <c>$</c> U+FF04. A position's key
/// is <c>field N</c>. Keys that start with an ASCII <c>$</c> are the layout's own.
/// </para>
/// </summary>
public sealed class CsvLayout
{
    /// <summary>The key of the whole row (a column or a hashed field <c>$</c>).</summary>
    public const string RowKey = "$row";

    /// <summary>The key of the line where the row starts (<c>meta: line</c>).</summary>
    public const string LineKey = "$line";

    private readonly List<string> _names = [];
    private readonly List<int> _positions = [];
    private readonly List<string> _keys = [];

    public CsvLayout(SourceSpec source, TargetSpec target)
    {
        Options = source.Csv ?? CsvSpec.Default;
        ByPosition = target.Columns.Concat(target.References.SelectMany(r => r.Dimension.Columns)).Any(c => c.Field is not null);
        var columns = target.Columns.Select(Rewrite).ToList();
        var references = target.References
            .Select(r => r with { Dimension = r.Dimension with { Columns = r.Dimension.Columns.Select(Rewrite).ToList() } })
            .ToList();
        var dedup = target.Dedup is { } d ? d with { Hash = d.Hash.Select(HashKey).ToList() } : null;
        Target = target with { Columns = columns, References = references, Dedup = dedup };
    }

    /// <summary>The <c>source.csv</c> settings (or the defaults).</summary>
    public CsvSpec Options { get; }

    /// <summary>Whether fields are named by position (<c>field</c>) rather than by header name.</summary>
    public bool ByPosition { get; }

    /// <summary>The target whose paths are the keys of the rows the reader yields.</summary>
    public TargetSpec Target { get; }

    /// <summary>The header names the spec reads, in key order (by header).</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The 1-based positions the spec reads, in key order (by position).</summary>
    public IReadOnlyList<int> Positions => _positions;

    /// <summary>The key of each field read, in order: <see cref="Names"/> or <see cref="Positions"/>.</summary>
    public IReadOnlyList<string> Keys => _keys;

    /// <summary>Whether each row also holds the whole row, under <see cref="RowKey"/>.</summary>
    public bool WholeRow { get; private set; }

    /// <summary>Whether each row also holds its line, under <see cref="LineKey"/>.</summary>
    public bool Line { get; private set; }

    private ColumnSpec Rewrite(ColumnSpec column)
    {
        if (column.Meta == UnitMeta.Line)
        {
            Line = true;
            return column with { Meta = null, Path = LineKey };
        }
        if (column.Hash is { } hash) return column with { Hash = hash.Select(HashKey).ToList() };
        if (column.Field is { } position) return column with { Field = null, Path = PositionKey(position) };
        return column.Path is { } path ? column with { Path = path == "$" ? Whole() : NameKey(path) } : column;
    }

    // A hashed field: '$', a header name, or by position its number.
    private string HashKey(string field) =>
        field == "$" ? Whole() : ByPosition && int.TryParse(field, out var position) ? PositionKey(position) : NameKey(field);

    private string Whole()
    {
        WholeRow = true;
        return RowKey;
    }

    private string NameKey(string name)
    {
        var at = _names.IndexOf(name);
        if (at >= 0) return _keys[at];
        var key = name.Contains('.') || name.StartsWith('$') ? (name.StartsWith('$') ? '\uFF04' + name[1..] : name).Replace('.', '\u2024') : name;
        if (_keys.Contains(key)) key = $"field #{_keys.Count + 1}"; // two names that read alike
        _names.Add(name);
        _keys.Add(key);
        return key;
    }

    private string PositionKey(int position)
    {
        var at = _positions.IndexOf(position);
        if (at >= 0) return _keys[at];
        _positions.Add(position);
        _keys.Add($"field {position}");
        return _keys[^1];
    }

    /// <summary>The keys as the reader writes them.</summary>
    internal JsonEncodedText[] EncodedKeys() => _keys.Select(k => JsonEncodedText.Encode(k, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)).ToArray();
}
