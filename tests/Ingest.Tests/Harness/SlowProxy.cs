using System.Net;
using System.Net.Sockets;

namespace Ingest.Tests.Harness;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a server (s3rver) that forwards what its clients send at a
/// bounded rate, so that an upload through it lasts long enough to kill its silo in the middle,
/// without touching the product. Answers pass at full speed. It counts the bytes it forwarded.
/// While <see cref="Refusing"/>, it closes every connection as it comes, as a server that is down.
/// </summary>
public sealed class SlowProxy : IAsyncDisposable
{
    private const int Chunk = 16 * 1024;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly int _targetPort;
    private readonly int _bytesPerSecond;
    private readonly Task _accepting;
    private long _sent;
    private long _refused;
    private volatile bool _refusing;

    public SlowProxy(string targetEndpoint, int bytesPerSecond)
    {
        _targetPort = new Uri(targetEndpoint).Port;
        _bytesPerSecond = bytesPerSecond;
        _listener.Start();
        _accepting = AcceptAsync(_stop.Token);
    }

    public string Endpoint => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Bytes forwarded from clients to the server so far.</summary>
    public long BytesSent => Interlocked.Read(ref _sent);

    /// <summary>Whether connections are closed as they come rather than forwarded.</summary>
    public bool Refusing { get => _refusing; set => _refusing = value; }

    /// <summary>Connections closed while <see cref="Refusing"/>.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    private async Task AcceptAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(cancellationToken);
                if (_refusing)
                {
                    Interlocked.Increment(ref _refused);
                    client.Client.LingerState = new LingerOption(true, 0); // a reset, not a polite close
                    client.Dispose();
                    continue;
                }
                _ = ForwardAsync(client, cancellationToken);
            }
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested) { }
    }

    private async Task ForwardAsync(TcpClient client, CancellationToken cancellationToken)
    {
        using var _ = client;
        using var server = new TcpClient();
        try
        {
            await server.ConnectAsync(IPAddress.Loopback, _targetPort, cancellationToken);
            await using var up = client.GetStream();
            await using var down = server.GetStream();
            // Either side closing (a silo killed, say) ends both.
            await Task.WhenAny(PumpAsync(up, down, throttled: true, cancellationToken), PumpAsync(down, up, throttled: false, cancellationToken));
        }
        catch (Exception) { }
    }

    private async Task PumpAsync(Stream from, Stream to, bool throttled, CancellationToken cancellationToken)
    {
        var buffer = new byte[Chunk];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                if (!throttled) continue;
                Interlocked.Add(ref _sent, n);
                await Task.Delay(TimeSpan.FromSeconds((double)n / _bytesPerSecond), cancellationToken);
            }
        }
        catch (Exception) { }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
