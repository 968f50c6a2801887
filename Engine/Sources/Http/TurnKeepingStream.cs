using System.Net.Sockets;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// The stream of an HTTP source's connection: a write made for a request with a
/// <see cref="RequestTurn"/> is refused when the turn has passed (the connection is then lost, and
/// the request takes a new turn). Writes without a turn (TLS handshakes, sources without a rate
/// limit) pass.
/// </summary>
public sealed class TurnKeepingStream(Socket socket) : NetworkStream(socket, ownsSocket: true)
{
    /// <summary>Connects as the handler would, over this stream.</summary>
    public static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new TurnKeepingStream(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        RequestTurn.Current?.Leave();
        base.Write(buffer, offset, count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        RequestTurn.Current?.Leave();
        base.Write(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        RequestTurn.Current?.Leave();
        return base.WriteAsync(buffer, offset, count, cancellationToken);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        RequestTurn.Current?.Leave();
        return base.WriteAsync(buffer, cancellationToken);
    }
}
