using Ingest.Grains;
using Ingest.GrainInterfaces;
using Spectre.Console;

namespace Ingest.Client.Output;

/// <summary>
/// Follows an import until it reaches a final state: a live progress bar on a terminal, a plain
/// line every few seconds otherwise. Everything goes to stderr.
/// </summary>
public sealed class ImportWatcher(ClientContext context)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(2);

    public async Task<ImportStatus> WatchAsync(long id, CancellationToken cancellationToken)
    {
        var store = context.Catalog;
        if (!context.Interactive) return await WatchPlainAsync(store, id, cancellationToken);

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
                    if (ImportState.IsFinal(status.State)) { task.StopTask(); return; }
                    await Task.Delay(Poll, cancellationToken);
                }
            });
        return status;
    }

    private async Task<ImportStatus> WatchPlainAsync(ImportCatalog store, long id, CancellationToken cancellationToken)
    {
        var lastLine = DateTimeOffset.MinValue;
        while (true)
        {
            var status = (await TransientErrors.Pipeline.ExecuteAsync(async ct => await store.GetStatusAsync(id, ct), cancellationToken))!;
            if (ImportState.IsFinal(status.State) || DateTimeOffset.UtcNow - lastLine >= PlainEvery)
            {
                await context.Error.WriteLineAsync(StatusView.Line(status));
                lastLine = DateTimeOffset.UtcNow;
            }
            if (ImportState.IsFinal(status.State)) return status;
            await Task.Delay(Poll, cancellationToken);
        }
    }

    private static string Describe(ImportStatus s)
    {
        var eta = s.EtaSeconds is { } e && !ImportState.IsFinal(s.State) ? $" · eta {StatusView.Duration(e)}" : "";
        return $"{Markup.Escape(s.Name)} [grey]{s.State}[/] units {s.Units.Done + s.Units.Failed}/{s.Units.Total} · {s.RowsPerSecond:N0} rows/s{eta}";
    }
}
