namespace Ingest.Engine;

/// <summary>
/// A load's fast path does not hold for the rows it met. The transaction is aborted: roll it back and
/// load the unit (or batch) again from its last checkpoint, which then takes the path that holds.
/// </summary>
public abstract class LoadAgainException(string message, Exception? inner = null) : Exception(message, inner);
