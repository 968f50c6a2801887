using Npgsql;

namespace Ingest.Engine;

/// <summary>
/// An upsert tried as a direct COPY met a key that already exists. The transaction is aborted:
/// roll it back and load the unit again, which then goes through staging and merge.
/// </summary>
public sealed class DirectCopyConflictException(string key, PostgresException inner)
    : LoadAgainException($"{key}: a key already exists in the target; load the unit again through staging", inner);
