namespace Ingest.Engine;

/// <summary>
/// Bad or missing input: a malformed file, a missing folder or bucket. Terminal: running the same
/// unit again reads the same bytes, so it fails at once instead of being retried. Its
/// <see cref="Kind"/> says whether only the unit is bad (<see cref="ErrorKind.Unit"/>, the default)
/// or every unit would meet it (<see cref="ErrorKind.Import"/>: a missing folder, nothing to load).
/// </summary>
public sealed class SourceDataException(string message, Exception? inner = null, ErrorKind kind = ErrorKind.Unit) : Exception(message, inner)
{
    public ErrorKind Kind => kind;
}
