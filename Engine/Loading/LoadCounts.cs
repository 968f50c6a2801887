namespace Ingest.Engine.Loading;

/// <summary>What one batch did to a table.</summary>
/// <param name="Inserted">New rows.</param>
/// <param name="Updated">Existing rows whose values changed.</param>
/// <param name="Unchanged">Rows already identical, plus earlier duplicates of a key within the batch.</param>
/// <param name="Deleted">Child rows deleted because their reloaded parent no longer holds them.</param>
public readonly record struct LoadCounts(long Inserted, long Updated, long Unchanged, long Deleted = 0)
{
    public static LoadCounts operator +(LoadCounts a, LoadCounts b) =>
        new(a.Inserted + b.Inserted, a.Updated + b.Updated, a.Unchanged + b.Unchanged, a.Deleted + b.Deleted);
}
