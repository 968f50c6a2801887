using Ingest.GrainInterfaces;
using Spectre.Console;
using Ingest.Catalog;
using Ingest.Engine;

namespace Ingest.Client.Output;

/// <summary>
/// Follows an import until it reaches a final state: a live progress bar on a terminal, a plain
/// line every few seconds otherwise. Every 30 s it says so when no silo runs to take the import,
/// and keeps waiting. It reads the status every half second, and at once when an import ends
/// (<see cref="ImportNotifications.Ended"/>). Everything goes to stderr.
/// </summary>
public sealed class ImportWatcher(ClientContext context)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan NoSiloEvery = TimeSpan.FromSeconds(30);
    // Silos write that they are alive every 2 s (see the silo host): a silo silent for this long is gone.
    public static readonly TimeSpan SiloAliveWithin = TimeSpan.FromSeconds(30);

    private DateTimeOffset _nextSiloCheck = DateTimeOffset.UtcNow + NoSiloEvery;

    public async Task<ImportStatus> WatchAsync(long id, CancellationToken cancellationToken)
    {
        var store = context.Catalog;
        await using var endings = await ImportNotifications.ListenAsync(context.DataSource, ImportNotifications.Ended, cancellationToken);
        if (!context.Interactive) return await WatchPlainAsync(store, id, endings, cancellationToken);

        ImportStatus status = (await store.GetStatusAsync(id, cancellationToken))!;
        await context.ErrorConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask(Describe(status), maxValue: Math.Max(1, status.Units.Total));
                while (true)
                {
                    status = (await TransientErrors.Pipeline.ExecuteAsync(async ct => await store.GetStatusAsync(id, ct), cancellationToken))!;
                    task.MaxValue = Math.Max(1, status.Units.Total);
                    task.Value = status.Units.Done + status.Units.Failed + status.Units.Cancelled;
                    task.Description = Describe(status);
                    if (status.State.IsFinal()) { task.StopTask(); return; }
                    // Written above the progress bar.
                    if (await NoSiloAsync(store, status, cancellationToken) is { } notice) context.ErrorConsole.MarkupLine($"[yellow]{Markup.Escape(notice)}[/]");
                    await endings.WaitAsync(Poll, cancellationToken);
                }
            });
        return status;
    }

    private async Task<ImportStatus> WatchPlainAsync(ImportCatalog store, long id, ImportNotifications endings, CancellationToken cancellationToken)
    {
        var lastLine = DateTimeOffset.MinValue;
        while (true)
        {
            var status = (await TransientErrors.Pipeline.ExecuteAsync(async ct => await store.GetStatusAsync(id, ct), cancellationToken))!;
            if (status.State.IsFinal() || DateTimeOffset.UtcNow - lastLine >= PlainEvery)
            {
                await context.Error.WriteLineAsync(StatusView.Line(status));
                lastLine = DateTimeOffset.UtcNow;
            }
            if (status.State.IsFinal()) return status;
            if (await NoSiloAsync(store, status, cancellationToken) is { } notice) await context.Error.WriteLineAsync(notice);
            await endings.WaitAsync(Poll, cancellationToken);
        }
    }

    // Every 30 s while the import has not ended: what to say when no silo runs to take it, else null.
    private async Task<string?> NoSiloAsync(ImportCatalog store, ImportStatus status, CancellationToken cancellationToken)
    {
        if (DateTimeOffset.UtcNow < _nextSiloCheck) return null;
        _nextSiloCheck = DateTimeOffset.UtcNow + NoSiloEvery;
        var alive = await TransientErrors.Pipeline.ExecuteAsync(
            async ct => await store.AnySiloAliveAsync(context.ClusterId, SiloAliveWithin, ct), cancellationToken);
        return alive ? null
            : $"no silo is running in cluster '{context.ClusterId}': import {status.Id} is {status.State.Name()} and waits for one to start (bin/ingest-silo); " +
              "still waiting (Ctrl-C stops waiting, not the import)";
    }

    private static string Describe(ImportStatus s)
    {
        var eta = s.EtaSeconds is { } e && !s.State.IsFinal() ? $" · eta {StatusView.Duration(e)}" : "";
        return $"{Markup.Escape(s.Name)} [grey]{s.State.Name()}[/] units {s.Units.Done + s.Units.Failed}/{s.Units.Total} · {s.RowsPerSecond:N0} rows/s{eta}";
    }
}
