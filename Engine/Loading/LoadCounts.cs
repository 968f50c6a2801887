namespace Ingest.Engine.Loading;

/// <summary>What one batch did to the target table.</summary>
/// <param name="Inserted">New rows.</param>
/// <param name="Updated">Existing rows whose values changed.</param>
/// <param name="Unchanged">Rows already identical, plus earlier duplicates of a key within the batch.</param>
public readonly record struct LoadCounts(long Inserted, long Updated, long Unchanged);
