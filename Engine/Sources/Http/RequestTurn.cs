using System.Diagnostics;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// A rate-limited request's turn, carried with the request's flow down to the connection's stream
/// (<see cref="TurnKeepingStream"/>): its bytes leave by <see cref="LeaveBy"/> or not at all. A turn
/// is checked where the bytes leave because anything between the gate and the socket (a connection
/// to open, a busy machine's thread pool) can make a request late, and a late request crowds the
/// window after it.
/// </summary>
public sealed class RequestTurn(long leaveBy)
{
    private static readonly AsyncLocal<RequestTurn?> Flowing = new();

    /// <summary>The latest <see cref="Stopwatch"/> timestamp at which the request may start to leave.</summary>
    public long LeaveBy { get; } = leaveBy;

    /// <summary>Whether the request's bytes were refused for leaving too late; it needs a new turn.</summary>
    public bool Missed { get; private set; }

    private bool _left;

    /// <summary>The turn of the request being sent in this flow, if it has one.</summary>
    public static RequestTurn? Current
    {
        get => Flowing.Value;
        set => Flowing.Value = value;
    }

    /// <summary>
    /// Called as bytes are written: the first write is on time or the request is refused; once
    /// refused, every later write of it (the handler may try it again on a new connection) is too.
    /// </summary>
    /// <exception cref="TurnMissedException">The request would leave after its turn.</exception>
    public void Leave()
    {
        if (!_left && !Missed && Stopwatch.GetTimestamp() > LeaveBy) Missed = true;
        if (Missed) throw new TurnMissedException();
        _left = true;
    }
}

/// <summary>A request's bytes refused because its rate limit turn had passed.</summary>
public sealed class TurnMissedException() : Exception("the request's rate limit turn passed before it could be sent");
