namespace Ingest.Engine;

/// <summary>
/// Bad or missing input: a malformed file, a missing folder or bucket. Terminal: running the same
/// unit again reads the same bytes, so it fails at once instead of being retried.
/// </summary>
public sealed class SourceDataException(string message, Exception? inner = null) : Exception(message, inner);
