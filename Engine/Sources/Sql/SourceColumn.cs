using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>A column of a SQL source as its engine describes it.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Type">The engine's name of its type (PostgreSQL's internal name, <c>int4</c>; MySQL's, <c>INT</c>).</param>
/// <param name="Array">Whether it is an array (PostgreSQL).</param>
/// <param name="Key">What it holds when it can split the source; null when it cannot.</param>
/// <param name="Target">The target type that holds its values exactly (<c>"columns": "*"</c>).</param>
public sealed record SourceColumn(string Name, string Type, bool Array, KeyKind? Key, ColumnType Target);
