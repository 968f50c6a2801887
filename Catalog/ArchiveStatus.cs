namespace Ingest.Catalog;

/// <summary>
/// What archiving a file did, as <c>ingest.archive.status</c> and <c>ingest.archived_files.outcome</c>
/// hold it, and as the import's counters (scope <c>archive</c>) count it.
/// </summary>
public static class ArchiveStatus
{
    /// <summary>Claimed: being archived (or its silo died, and another takes it over).</summary>
    public const string Pending = "pending";

    /// <summary>Uploaded by this registry.</summary>
    public const string Uploaded = "uploaded";

    /// <summary>The same bytes (size and SHA-256) were at the key already: not uploaded again.</summary>
    public const string PreExisting = "pre_existing";

    /// <summary>Not archived: another object at the key, or an error that retries did not get past.</summary>
    public const string Error = "error";
}
