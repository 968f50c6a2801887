namespace Ingest.Catalog;

/// <summary>How a submit treats an unfinished import of the same name, and the name's watermark store.</summary>
/// <param name="Concurrent">Store the import even while one of the same name has not ended.</param>
/// <param name="Full">The import ignores the watermark store (it loads every file) and then updates it.</param>
/// <param name="Reset">Clear the name's watermark store first: the import loads everything.</param>
/// <param name="KeepState">Keep the store although the spec's source or target changed since it was written.</param>
public sealed record SubmitOptions(bool Concurrent = false, bool Full = false, bool Reset = false, bool KeepState = false)
{
    public static SubmitOptions Default { get; } = new();
}
