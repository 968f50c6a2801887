namespace Ingest.Catalog;

/// <summary>How archiving one loaded file ended.</summary>
/// <param name="Status">An <see cref="ArchiveStatus"/> other than pending.</param>
/// <param name="Bucket">The bucket; null when the key could not be made.</param>
/// <param name="Key">The key; null when it could not be made (the first record lacks a value the template reads).</param>
/// <param name="Error">Why it was not archived.</param>
/// <param name="Registered">Whether the claim held the key's registry row, which then records this outcome too.</param>
public sealed record ArchiveOutcome(string Status, string? Bucket, string? Key, string? Error, bool Registered);
