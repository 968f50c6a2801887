namespace Ingest.Engine;

/// <summary>
/// A row relayed from the source as it was sent (<see cref="Sources.Sql.RowRelay"/>) has no value in
/// a key column, which only the mapper rejects with its reason. The transaction is aborted: roll it
/// back and load the unit again, whose rows the mapper then reads.
/// </summary>
public sealed class RelayDeclinedException(string unit, string column)
    : LoadAgainException($"{unit}: a row without a value in key column '{column}'; load the unit again through the mapper");
