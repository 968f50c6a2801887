namespace Ingest.Engine.Sources.Http;

/// <summary>
/// A request of an HTTP source that did not give a page, after its retries: its
/// <see cref="Kind"/> says what it means (<see cref="ErrorKind.Attempt"/>: the unit's attempt fails
/// and is retried later; <see cref="ErrorKind.Unit"/>: a 4xx that the same request would meet again;
/// <see cref="ErrorKind.Fatal"/>: credentials refused, the import stops). The message names the
/// status and the URL with its secrets masked.
/// </summary>
public sealed class HttpFetchException(string message, ErrorKind kind, Exception? inner = null) : Exception(message, inner)
{
    public ErrorKind Kind => kind;
}
