namespace Ingest.Engine.Sources;

/// <summary>
/// The rows of a SQL source whose <paramref name="Column"/> lies from <paramref name="From"/>
/// (inclusive) up to <paramref name="To"/> (exclusive; inclusive for the last range). Values are in
/// their canonical text (<see cref="Sql.KeyValues"/>).
/// </summary>
/// <param name="Column">The splitBy column.</param>
/// <param name="Kind">What the column holds, which decides how its values are written in SQL.</param>
/// <param name="From">The range's first key.</param>
/// <param name="To">Its end: the next range's first key, or the greatest key for the last range.</param>
/// <param name="Last">Whether <paramref name="To"/> is in the range (the last range).</param>
public sealed record KeyRange(string Column, Sql.KeyKind Kind, string From, string To, bool Last);
