using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ingest.Silo;

/// <summary>
/// Replaces Orleans' fatal error handler, which ends the process (<c>Environment.FailFast</c>).
/// A silo that the cluster declared dead (wrongly, after a long GC pause or a CPU stall, say)
/// stops cleanly instead, and the host starts a new silo in the same process, which joins the
/// cluster again under a new generation. Its units were already handed out elsewhere; whatever
/// its old attempts try to commit is fenced off.
/// </summary>
public sealed class RejoiningFatalErrorHandler(IServiceProvider services, RejoinRequest rejoin, ILogger<RejoiningFatalErrorHandler> logger) : IFatalErrorHandler
{
    public bool IsUnexpected(Exception exception) => exception is not ThreadAbortException;

    public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
    {
        logger.LogError(exception, "fatal error in {Sender}: {Context}; this silo stops and a new one rejoins the cluster", sender, context);
        rejoin.Requested = true;
        services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
    }
}

/// <summary>Set when the silo stops so that a new one can take its place in the same process.</summary>
public sealed class RejoinRequest
{
    public volatile bool Requested;
}
