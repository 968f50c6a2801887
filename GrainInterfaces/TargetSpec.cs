using System.Text.Json.Serialization;

namespace Ingest.GrainInterfaces;

/// <summary>The table an import loads into, and the related tables its nested records fill.</summary>
/// <param name="Schema">The schema of the table and of every related table (default <c>public</c>).</param>
/// <param name="Table">The table's name.</param>
/// <param name="Key">
/// The columns to upsert on. Empty: every record is inserted. Present: new keys are inserted,
/// changed rows updated, identical rows left untouched and counted as unchanged.
/// </param>
/// <param name="Create">Create the tables (with primary keys, and foreign keys unless <paramref name="ForeignKeys"/> is false) when they do not exist.</param>
/// <param name="Columns">The target columns, in table order, each with where its value comes from.</param>
/// <param name="References">Many-to-one links from each record to dimension tables.</param>
/// <param name="Children">Tables filled from nested collections of each record.</param>
/// <param name="ForeignKeys">Whether created tables get foreign keys to their parents and dimensions (default true).</param>
/// <param name="Dedup">A content hash that decides whether a record with an existing key changed.</param>
/// <param name="OnConflict">What a record whose key exists does to the row (default <see cref="ConflictAction.Update"/>).</param>
/// <param name="Validate">Rules and defaults for the target's rows.</param>
/// <param name="VersionColumn">A column whose value orders a key's versions: an upsert updates a row only when the incoming value is greater.</param>
/// <param name="AllColumns">
/// <c>"columns": "*"</c> (a SQL source): every source column, by name, with its own type; planning
/// fills <see cref="Columns"/> with those columns in the stored spec, so every unit maps the same.
/// </param>
public sealed record TargetSpec(
    string Schema,
    string Table,
    IReadOnlyList<string> Key,
    bool Create,
    IReadOnlyList<ColumnSpec> Columns,
    IReadOnlyList<ReferenceSpec>? References = null,
    IReadOnlyList<ChildSpec>? Children = null,
    bool ForeignKeys = true,
    DedupSpec? Dedup = null,
    ConflictAction OnConflict = ConflictAction.Update,
    ValidateSpec? Validate = null,
    string? VersionColumn = null,
    bool AllColumns = false)
{
    /// <summary>Whether the columns are <c>"*"</c> and planning has yet to find them.</summary>
    [JsonIgnore]
    public bool ColumnsToResolve => AllColumns && Columns.Count == 0;

    /// <summary>Many-to-one links from each record to dimension tables.</summary>
    public IReadOnlyList<ReferenceSpec> References { get; init; } = References ?? [];

    /// <summary>Tables filled from nested collections of each record.</summary>
    public IReadOnlyList<ChildSpec> Children { get; init; } = Children ?? [];

    /// <summary>Whether a record fills more than one table.</summary>
    public bool IsRelational => References.Count > 0 || Children.Count > 0;
}

/// <summary>
/// Content-hash dedup: SHA-256 over the named record fields (canonical encoding, see docs/SPEC.md),
/// stored as hex in <paramref name="Column"/>. With a key, a record whose key exists and whose hash
/// is the same is a duplicate and is not rewritten; without one, the hash is the key.
/// </summary>
/// <param name="Hash">Dotted paths into the record, hashed in this order.</param>
/// <param name="Column">The text column that stores the hash (added to the target's columns).</param>
public sealed record DedupSpec(IReadOnlyList<string> Hash, string Column);

/// <summary>What loading a record whose key exists does.</summary>
public enum ConflictAction
{
    /// <summary>The row is updated when it differs (the default).</summary>
    Update,

    /// <summary>The existing row stays as it is: the lower-priority source of two loading one table.</summary>
    Keep,
}

/// <summary>
/// A table with one row per element of a nested collection: an array (one row per element) or an
/// object used as a map (one row per property). Its primary key is <paramref name="ParentKey"/>
/// followed by <paramref name="Key"/>, or by all its columns when <paramref name="Key"/> is empty.
/// </summary>
/// <param name="Table">The child table's name (in the target's schema).</param>
/// <param name="Path">A dotted path, relative to the parent's element, to the array or map.</param>
/// <param name="ParentKey">The child's columns holding its parent's primary key, in order.</param>
/// <param name="Key">The columns that tell one element of a parent from another.</param>
/// <param name="Columns">The child's own columns; paths are relative to the element (<c>$</c>, <c>$key</c>, <c>$value</c>, <c>$index</c>).</param>
/// <param name="References">Links from each child row to dimension tables.</param>
/// <param name="Children">Collections nested in each element.</param>
public sealed record ChildSpec(
    string Table,
    string Path,
    IReadOnlyList<string> ParentKey,
    IReadOnlyList<string> Key,
    IReadOnlyList<ColumnSpec> Columns,
    IReadOnlyList<ReferenceSpec> References,
    IReadOnlyList<ChildSpec> Children);

/// <summary>
/// A many-to-one link from a row to a dimension table. With a natural key, the row's
/// <paramref name="Columns"/> hold the dimension's key; with a surrogate, the row's one column
/// in <paramref name="Columns"/> receives the dimension row's generated id.
/// </summary>
/// <param name="Columns">The referencing row's columns, in the order of the dimension's key (one column for a surrogate).</param>
/// <param name="Dimension">The dimension table and how its rows are read.</param>
public sealed record ReferenceSpec(IReadOnlyList<string> Columns, DimensionSpec Dimension);

/// <summary>A dimension table: rows upserted by natural key, never deleted.</summary>
/// <param name="Table">The dimension table's name (in the target's schema).</param>
/// <param name="Path">A dotted path to the dimension's object, relative to the referencing element; null for the element itself.</param>
/// <param name="Key">The natural key columns.</param>
/// <param name="Surrogate">When set, the name of an identity column the dimension gets, which referencing rows store.</param>
/// <param name="Columns">The dimension's columns, paths relative to its object.</param>
/// <param name="Kind">
/// <see cref="DimensionKind.Date"/>: a calendar, keyed by the referencing date (its one column
/// <c>date</c>, read where the referencing column is read), whose other columns PostgreSQL derives.
/// </param>
public sealed record DimensionSpec(
    string Table,
    string? Path,
    IReadOnlyList<string> Key,
    string? Surrogate,
    IReadOnlyList<ColumnSpec> Columns,
    DimensionKind Kind = DimensionKind.Mapped);

/// <summary>What a dimension's rows hold.</summary>
public enum DimensionKind
{
    /// <summary>The columns the spec maps from the record.</summary>
    Mapped,

    /// <summary>One row per date the facts use: the date, and its year, quarter, month, day, weekday, ISO week and month name.</summary>
    Date,
}

/// <summary>
/// One target column and where its value comes from: a record field (<paramref name="Path"/>),
/// a constant (<paramref name="Value"/>), or the unit's metadata (<paramref name="Meta"/>).
/// </summary>
/// <param name="Name">The column name.</param>
/// <param name="Path">A dotted path into the element (<c>a.b.c</c>), or <c>$</c> for the element itself; in a child also <c>$key</c>, <c>$value</c>, <c>$index</c>.</param>
/// <param name="Type">The column's type; values are converted to it, or the record is rejected.</param>
/// <param name="Value">A constant, converted to <paramref name="Type"/> (a tenant column, say).</param>
/// <param name="Meta">Lineage: a fact about the unit or the record.</param>
/// <param name="Hash">The record fields whose content hash the column holds (the dedup column).</param>
/// <param name="Format">How a string value is read (trimmed, nulls, a date format, a decimal separator).</param>
/// <param name="Field">For CSV files: the field's 1-based position in its row, instead of a header name in <paramref name="Path"/>.</param>
public sealed record ColumnSpec(string Name, string? Path, ColumnType Type, string? Value = null, UnitMeta? Meta = null, IReadOnlyList<string>? Hash = null,
    ValueFormat? Format = null, int? Field = null);

/// <summary>How a string value of a record is read before it is converted.</summary>
/// <param name="Trim">Leading and trailing white space removed first.</param>
/// <param name="NullIf">Values (after trimming) that mean NULL, such as <c>""</c> or <c>"N/A"</c>.</param>
/// <param name="Pattern">For a date or timestamptz column: the exact .NET format, e.g. <c>dd/MM/yyyy</c> or <c>MMM dd yyyy</c> (invariant culture).</param>
/// <param name="DecimalSeparator">For a numeric or double column: the decimal separator, e.g. <c>,</c>.</param>
public sealed record ValueFormat(bool Trim, IReadOnlyList<string>? NullIf, string? Pattern, string? DecimalSeparator);

/// <summary>Facts about a unit or a record that a column can hold.</summary>
public enum UnitMeta
{
    /// <summary>The file's name, or the object's key (text).</summary>
    File,
    /// <summary>The object's ETag, or for a file its size and modification time (text).</summary>
    Etag,
    /// <summary>When the file or object was last modified (timestamptz).</summary>
    Modified,
    /// <summary>The file's size in bytes (bigint).</summary>
    Size,
    /// <summary>The record's 0-based position in its file (bigint).</summary>
    RecordIndex,
    /// <summary>The import's id (bigint).</summary>
    ImportId,
    /// <summary>For CSV files: the 1-based line where the record starts (bigint).</summary>
    Line,
    /// <summary>For messages: the message's id as the ledger keeps it (text).</summary>
    MessageId,
    /// <summary>For messages: the routing key it was published with (text).</summary>
    RoutingKey,
    /// <summary>For messages: the exchange it was published to (text).</summary>
    Exchange,
    /// <summary>For messages: its <c>timestamp</c> property (timestamptz).</summary>
    Timestamp,
    /// <summary>For messages: whether the broker delivered it before (boolean).</summary>
    Redelivered,
    /// <summary>For messages: a header's value (text unless typed), its name in the column's path.</summary>
    Header,
    /// <summary>For HTTP: the page's URL, secrets masked (text).</summary>
    Url,
    /// <summary>For HTTP: the page's number (its position in the listing for offsets, links and cursors) (bigint).</summary>
    Page,
    /// <summary>For HTTP: when the page was fetched (timestamptz).</summary>
    FetchedAt,
    /// <summary>For HTTP: the page's HTTP status (int).</summary>
    Status,
}

/// <summary>How often a failing unit is attempted.</summary>
/// <param name="Attempts">Attempts in all, the first included (default 3).</param>
/// <param name="BackoffSeconds">The wait before the second attempt; doubled before each later one (default 1).</param>
/// <param name="AttemptTimeoutSeconds">An attempt still running after this long is cancelled and retried (default: none).</param>
public sealed record RetrySpec(int Attempts, double BackoffSeconds, double? AttemptTimeoutSeconds = null)
{
    /// <summary>Three attempts, one second apart and doubling.</summary>
    public static RetrySpec Default { get; } = new(3, 1);

    /// <summary>The longest <see cref="AttemptTimeoutSeconds"/>: 30 days.</summary>
    public const double MaxAttemptTimeoutSeconds = 30 * 24 * 3600;
}
