using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Ingest.Tests.Harness;

/// <summary>
/// A webhook endpoint on 127.0.0.1 that keeps each POST's <c>Idempotency-Key</c> and body, and
/// fails the first <see cref="FailuresPerKey"/> attempts of each key with a 503, so that the sender
/// has to retry.
/// </summary>
public sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, int> _attempts = new();
    private readonly Task _loop;

    public WebhookReceiver(int failuresPerKey)
    {
        FailuresPerKey = failuresPerKey;
        Port = ExternalCommand.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public int FailuresPerKey { get; }

    public string Url => $"http://127.0.0.1:{Port}/hook";

    /// <summary>The requests answered 200, in the order they came: (key, body).</summary>
    public ConcurrentQueue<(string Key, string Body)> Accepted { get; } = new();

    /// <summary>Attempts per key, failed ones included.</summary>
    public IReadOnlyDictionary<string, int> Attempts => _attempts;

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var key = context.Request.Headers["Idempotency-Key"] ?? "";
            var attempt = _attempts.AddOrUpdate(key, 1, (_, n) => n + 1);
            if (attempt > FailuresPerKey) Accepted.Enqueue((key, body));
            context.Response.StatusCode = attempt > FailuresPerKey ? 200 : 503;
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }
}
