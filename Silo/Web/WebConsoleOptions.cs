using System.Net;

namespace Ingest.Silo.Web;

/// <summary>
/// The web console a silo serves (<c>INGEST_WEB_PORT</c>): where, and who may read and act.
/// </summary>
/// <param name="Port">The port.</param>
/// <param name="Address">The address it binds (<c>INGEST_WEB_ADDRESS</c>, default 127.0.0.1).</param>
/// <param name="Token">The bearer token actions need (<c>INGEST_WEB_TOKEN</c>); null: the console is read-only.</param>
/// <param name="ReadToken">A token reading needs too (<c>INGEST_WEB_READ_TOKEN</c>): rejects can hold personal data; null: reading is open.</param>
/// <param name="TraceUrl">A link to an import's trace, <c>{traceId}</c> replaced (<c>INGEST_TRACE_URL</c>, e.g. <c>http://jaeger:16686/trace/{traceId}</c>).</param>
public sealed record WebConsoleOptions(int Port, IPAddress Address, string? Token, string? ReadToken, string? TraceUrl);
