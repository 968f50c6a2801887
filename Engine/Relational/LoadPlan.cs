using System.Security.Cryptography;
using System.Text;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Relational;

/// <summary>
/// A relational target as a plan of tables in dependency order: the dimensions, the root table,
/// then its children depth first. Each table knows the layout of its rows, how an element fills
/// them, and which nested values feed its children and dimensions.
/// </summary>
public sealed class LoadPlan
{
    private readonly List<PlanTable> _tables = [];

    public LoadPlan(TargetSpec spec)
    {
        Root = Build(spec.Schema, spec.Table, spec.Columns, spec.Key, spec.References, spec.Children, parent: null, parentKey: [], spec);
        Dimensions = _tables.Where(t => t.Role == TableRole.Dimension).ToArray();
        Descendants = _tables.Where(t => t.Role == TableRole.Child).ToArray();
        Tables = [.. Dimensions, Root, .. Descendants];
        for (var i = 0; i < Tables.Count; i++) Tables[i].Index = i;
    }

    /// <summary>Every table, dimensions first, then the root, then its descendants depth first: the order rows are merged in.</summary>
    public IReadOnlyList<PlanTable> Tables { get; }

    /// <summary>Every table in the order counts are shown: the root, its descendants, then the dimensions.</summary>
    public IEnumerable<PlanTable> ReportOrder => [Root, .. Descendants, .. Dimensions];

    public PlanTable Root { get; }

    public IReadOnlyList<PlanTable> Dimensions { get; }

    /// <summary>The children, grandchildren…, each after its parent.</summary>
    public IReadOnlyList<PlanTable> Descendants { get; }

    private PlanTable Build(string schema, string name, IReadOnlyList<ColumnSpec> own, IReadOnlyList<string> ownKey,
        IReadOnlyList<ReferenceSpec> references, IReadOnlyList<ChildSpec> children, PlanTable? parent, IReadOnlyList<string> parentKey, TargetSpec spec)
    {
        // Row layout: parent key, own columns, surrogate columns, then hidden copies of the surrogate dimensions' natural keys.
        var visible = new List<TableColumn>();
        if (parent is not null)
            visible.AddRange(parentKey.Select((k, i) => new TableColumn(k, parent.Target.Columns[parent.KeyColumns[i]].Type)));
        visible.AddRange(own.Select(c => new TableColumn(c.Name, c.Type)));
        var surrogates = references.Where(r => r.Dimension.Surrogate is not null).ToList();
        visible.AddRange(surrogates.Select(r => new TableColumn(r.Columns[0], ColumnType.Bigint)));

        var key = parent is null ? ownKey : [.. parentKey, .. ownKey.Count > 0 ? ownKey : visible.Skip(parentKey.Count).Select(c => c.Name)];
        var target = new TargetTable(schema, name, visible, key, spec.Create)
        {
            // The root's dedup hash and conflict policy; children compare all their columns.
            ChangedWhen = parent is null && spec.Dedup is { } dedup ? [dedup.Column] : null,
            KeepExisting = parent is null && spec.OnConflict == ConflictAction.Keep,
        };
        var hidden = new List<TableColumn>();
        var spans = new List<string>();
        var table = new PlanTable(parent is null ? TableRole.Root : TableRole.Child, target)
        {
            KeyColumns = key.Select(k => visible.FindIndex(c => c.Name == k)).ToArray(),
            ParentKeyWidth = parentKey.Count,
            RootKeyWidth = parent is null ? key.Count : parent.RootKeyWidth,
        };
        if (parent is not null && spec.ForeignKeys)
            target.ForeignKeys.Add(new ForeignKey(parentKey, parent.Target, parent.Target.Key, Cascade: true));

        foreach (var reference in references)
        {
            var dimension = BuildDimension(schema, reference.Dimension, spec);
            var span = reference.Dimension.Path is { } path ? AddSpan(spans, path) : -1;
            if (reference.Dimension.Surrogate is { } surrogate)
            {
                var column = visible.FindIndex(c => c.Name == reference.Columns[0]);
                var copies = dimension.KeyColumns.Select(k =>
                {
                    hidden.Add(new TableColumn($"ingest_ref{hidden.Count}", dimension.Target.Columns[k].Type));
                    return visible.Count + hidden.Count - 1;
                }).ToArray();
                table.References.Add(new PlanReference(dimension, span, column, copies, key.Contains(reference.Columns[0])));
                if (spec.ForeignKeys) target.ForeignKeys.Add(new ForeignKey(reference.Columns, dimension.Target, [surrogate], Cascade: false));
            }
            else
            {
                table.References.Add(new PlanReference(dimension, span, -1, [], false));
                if (spec.ForeignKeys) target.ForeignKeys.Add(new ForeignKey(reference.Columns, dimension.Target, dimension.Target.Key, Cascade: false));
            }
        }

        var childSpans = children.Select(c => AddSpan(spans, c.Path)).ToArray();
        // Rows of the root need its key; a child's whole key must be there (it is its primary key).
        var required = parent is null ? ownKey : key.Skip(parentKey.Count).ToList();
        table.Mapper = new RecordMapper(own, required, offset: parentKey.Count, spans);
        table.RowTypes = [.. visible.Select(c => c.Type), .. hidden.Select(c => c.Type)];
        table.QuotedRowColumns = [.. target.QuotedColumns, .. hidden.Select(c => SqlIdentifier.Quote(c.Name))];
        table.StagingName = StagingName(target.QualifiedName, visible.Concat(hidden));
        _tables.Add(table);

        for (var i = 0; i < children.Count; i++)
        {
            var c = children[i];
            var child = Build(schema, c.Table, c.Columns, c.Key, c.References, c.Children, table, c.ParentKey, spec);
            table.Children.Add(new PlanChild(child, c.Path, childSpans[i]));
        }
        return table;
    }

    private PlanTable BuildDimension(string schema, DimensionSpec spec, TargetSpec target)
    {
        var columns = spec.Columns.Select(c => new TableColumn(c.Name, c.Type)).ToArray();
        var table = new PlanTable(TableRole.Dimension, new TargetTable(schema, spec.Table, columns, spec.Key, target.Create, spec.Surrogate)
            {
                Derived = spec.Kind == DimensionKind.Date ? DateDimension.Columns : [],
            })
        {
            KeyColumns = spec.Key.Select(k => Array.FindIndex(columns, c => c.Name == k)).ToArray(),
            Mapper = new RecordMapper(spec.Columns, []),
            RowTypes = columns.Select(c => c.Type).ToArray(),
        };
        table.QuotedRowColumns = table.Target.QuotedColumns.ToArray();
        table.StagingName = StagingName(table.Target.QualifiedName, columns);
        _tables.Add(table);
        return table;
    }

    // A span per reader, even of the same path: a value with one reader can be handed to it as the walk meets it.
    private static int AddSpan(List<string> spans, string path)
    {
        spans.Add(path);
        return spans.Count - 1;
    }

    private static string StagingName(string qualifiedName, IEnumerable<TableColumn> columns)
    {
        var shape = string.Join("\n", [qualifiedName, .. columns.Select(c => $"{c.Name} {c.Type}")]);
        return "ingest_rel_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(shape)))[..16];
    }
}

/// <summary>The part a table plays in a relational load.</summary>
public enum TableRole { Dimension, Root, Child }

/// <summary>One table of a <see cref="LoadPlan"/>.</summary>
public sealed class PlanTable(TableRole role, TargetTable target)
{
    public TableRole Role => role;

    public TargetTable Target => target;

    /// <summary>The table's position in <see cref="LoadPlan.Tables"/>.</summary>
    public int Index { get; internal set; }

    /// <summary>The key's columns, as positions in the row (a dimension's natural key).</summary>
    public int[] KeyColumns { get; init; } = [];

    /// <summary>How many leading columns hold the parent's key (copied from the parent's row).</summary>
    public int ParentKeyWidth { get; init; }

    /// <summary>How many leading columns hold the root record's key (the root: its key).</summary>
    public int RootKeyWidth { get; init; }

    /// <summary>Fills the table's own columns from an element.</summary>
    public RecordMapper Mapper { get; internal set; } = null!;

    /// <summary>The row's column types: the table's columns, then hidden ones that only staging has.</summary>
    public ColumnType[] RowTypes { get; internal set; } = [];

    public string[] QuotedRowColumns { get; internal set; } = [];

    /// <summary>The session's temporary staging table (a safe identifier).</summary>
    public string StagingName { get; internal set; } = "";

    public List<PlanReference> References { get; } = [];

    public List<PlanChild> Children { get; } = [];
}

/// <summary>
/// A link from a table's rows to a dimension: where the dimension's element is (a span of the
/// referencing element; -1 for the element itself), and for a surrogate the column that receives
/// it and the hidden columns holding the natural key it is looked up by.
/// </summary>
public sealed record PlanReference(PlanTable Dimension, int Span, int SurrogateColumn, int[] NaturalKeyCopies, bool SurrogateIsKey);

/// <summary>A child table and the span of its parent's element that holds its collection.</summary>
public sealed record PlanChild(PlanTable Table, string Path, int Span);
