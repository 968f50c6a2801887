using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// One request through the HTTP sources' client to a listener of its own on the loopback, as a silo
/// starts: the runtime compiles the client's send path then, rather than during the first request of
/// a rate-limited import, which would otherwise reach its API later than its turn.
/// </summary>
public static class HttpWarmup
{
    private static readonly byte[] Answer = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");

    public static async Task RunAsync(HttpClient client, CancellationToken cancellationToken = default)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var answering = AnswerOnceAsync(listener, cancellationToken);
        using (var response = await client.GetAsync($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/", HttpCompletionOption.ResponseHeadersRead, cancellationToken))
            await response.Content.ReadAsByteArrayAsync(cancellationToken);
        await answering;
    }

    private static async Task AnswerOnceAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        using var socket = await listener.AcceptSocketAsync(cancellationToken);
        var buffer = new byte[4096];
        var read = 0;
        // The request's head ends with an empty line; a GET has no body.
        while (read < buffer.Length && buffer.AsSpan(0, read).IndexOf("\r\n\r\n"u8) < 0)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0) break;
            read += n;
        }
        await socket.SendAsync(Answer, cancellationToken);
        socket.Shutdown(SocketShutdown.Send);
    }
}
