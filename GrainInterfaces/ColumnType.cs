namespace Ingest.GrainInterfaces;

/// <summary>The column types a record field can be converted to.</summary>
public enum ColumnType
{
    /// <summary>PostgreSQL <c>text</c>. Non-string JSON values are kept as their JSON text.</summary>
    Text,
    /// <summary>PostgreSQL <c>bigint</c>.</summary>
    Bigint,
    /// <summary>PostgreSQL <c>integer</c>.</summary>
    Int,
    /// <summary>PostgreSQL <c>double precision</c>.</summary>
    Double,
    /// <summary>PostgreSQL <c>numeric</c>.</summary>
    Numeric,
    /// <summary>PostgreSQL <c>boolean</c>.</summary>
    Boolean,
    /// <summary>PostgreSQL <c>date</c>, from an ISO 8601 date.</summary>
    Date,
    /// <summary>PostgreSQL <c>timestamptz</c>, from an ISO 8601 timestamp (no offset: UTC).</summary>
    Timestamptz,
    /// <summary>PostgreSQL <c>jsonb</c>: the field's JSON as it is.</summary>
    Jsonb,
    /// <summary>PostgreSQL <c>uuid</c>, from its text form.</summary>
    Uuid,
    /// <summary>PostgreSQL <c>bytea</c>, from base64 (or PostgreSQL's <c>\x</c> hex form).</summary>
    Bytea,
    /// <summary>PostgreSQL <c>timestamp</c> (without time zone): the wall-clock time as written, an offset ignored as PostgreSQL does.</summary>
    Timestamp,
}

/// <summary>Names of <see cref="ColumnType"/> as they appear in specs and in PostgreSQL.</summary>
public static class ColumnTypeNames
{
    /// <summary>The names a spec may use, each with its type.</summary>
    public static IReadOnlyDictionary<string, ColumnType> SpecNames { get; } =
        new Dictionary<string, ColumnType>(StringComparer.OrdinalIgnoreCase)
        {
            ["text"] = ColumnType.Text,
            ["bigint"] = ColumnType.Bigint,
            ["int"] = ColumnType.Int,
            ["integer"] = ColumnType.Int,
            ["double"] = ColumnType.Double,
            ["numeric"] = ColumnType.Numeric,
            ["boolean"] = ColumnType.Boolean,
            ["bool"] = ColumnType.Boolean,
            ["date"] = ColumnType.Date,
            ["timestamptz"] = ColumnType.Timestamptz,
            ["jsonb"] = ColumnType.Jsonb,
            ["uuid"] = ColumnType.Uuid,
            ["bytea"] = ColumnType.Bytea,
            ["timestamp"] = ColumnType.Timestamp,
        };

    /// <summary>The type as PostgreSQL's <c>format_type</c> spells it.</summary>
    public static string ToSql(this ColumnType type) => type switch
    {
        ColumnType.Text => "text",
        ColumnType.Bigint => "bigint",
        ColumnType.Int => "integer",
        ColumnType.Double => "double precision",
        ColumnType.Numeric => "numeric",
        ColumnType.Boolean => "boolean",
        ColumnType.Date => "date",
        ColumnType.Timestamptz => "timestamp with time zone",
        ColumnType.Jsonb => "jsonb",
        ColumnType.Uuid => "uuid",
        ColumnType.Bytea => "bytea",
        ColumnType.Timestamp => "timestamp without time zone",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>Whether a row holds the type's values as bytes (text, jsonb, uuid, bytea) rather than a number.</summary>
    public static bool IsBytes(this ColumnType type) => type is ColumnType.Text or ColumnType.Jsonb or ColumnType.Uuid or ColumnType.Bytea;

    /// <summary>The type as a spec spells it.</summary>
    public static string ToSpecName(this ColumnType type) => type.ToString().ToLowerInvariant();
}
