namespace Ingest.Engine.Sources.Sql;

/// <summary>What a splitBy column holds, which decides how its values are cut and written in SQL.</summary>
public enum KeyKind
{
    /// <summary>Whole numbers (signed or unsigned, any width).</summary>
    Integer,

    /// <summary>Exact decimals.</summary>
    Numeric,

    /// <summary>Dates.</summary>
    Date,

    /// <summary>Timestamps without zone (MySQL's TIMESTAMP too, read in UTC).</summary>
    Timestamp,

    /// <summary>PostgreSQL's timestamptz.</summary>
    TimestampTz,
}
