using System.Collections.Concurrent;
using System.Net;

namespace Ingest.Tests.Harness;

/// <summary>
/// The receiving end of OTLP over HTTP (protobuf) on 127.0.0.1: it keeps every request body it
/// gets on <c>/v1/metrics</c> and <c>/v1/traces</c> and answers 200, as a collector would.
/// </summary>
public sealed class OtlpReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public OtlpReceiver()
    {
        Port = ExternalCommand.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Bodies of the metric exports received so far.</summary>
    public ConcurrentQueue<byte[]> MetricExports { get; } = new();

    /// <summary>Bodies of the trace exports received so far (each from one process: one resource).</summary>
    public ConcurrentQueue<byte[]> TraceExports { get; } = new();

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            if (context.Request.ContentType == "application/x-protobuf")
            {
                if (context.Request.Url?.AbsolutePath == "/v1/metrics") MetricExports.Enqueue(body.ToArray());
                if (context.Request.Url?.AbsolutePath == "/v1/traces") TraceExports.Enqueue(body.ToArray());
            }
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
