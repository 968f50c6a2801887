using Ingest.GrainInterfaces;
using Spectre.Console;

namespace Ingest.Client.Output;

/// <summary>Renders an import's status for people.</summary>
public static class StatusView
{
    public static void Render(IAnsiConsole console, ImportStatus s)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]import {s.Id}[/] {Markup.Escape(s.Name)}");
        table.AddColumn("").AddColumn(new TableColumn("").RightAligned());
        table.HideHeaders();
        table.AddRow("state", StateMarkup(s.State));
        table.AddRow("units", $"{s.Units.Done} done, {s.Units.Failed} failed, {s.Units.Running} running, {s.Units.Pending} pending of {s.Units.Total}"
            + (s.Units.Cancelled > 0 ? $", {s.Units.Cancelled} cancelled" : ""));
        if (s.Files.Skipped > 0) table.AddRow("files skipped", $"{s.Files.Skipped:N0} (committed before in their current version)");
        if (s.Since is { ValueKind: System.Text.Json.JsonValueKind.Object } window)
            // A SQL source's window: above the committed pair, below the source's clock less the lag.
            table.AddRow("reads rows", Markup.Escape(
                $"after {(window.TryGetProperty("after", out var after) && after.ValueKind != System.Text.Json.JsonValueKind.Null ? after.GetRawText() : "none (every row)")}, " +
                $"before {(window.TryGetProperty("before", out var before) && before.ValueKind == System.Text.Json.JsonValueKind.String ? before.GetString() : "no bound")}"));
        else if (s.Since is { } since)
            table.AddRow("reads since", since.ValueKind == System.Text.Json.JsonValueKind.Null ? "no bound (everything)" : Markup.Escape(since.GetRawText()));
        table.AddRow("rows read", $"{s.Rows.Read:N0}");
        table.AddRow("inserted", $"{s.Rows.Inserted:N0}");
        table.AddRow("updated", $"{s.Rows.Updated:N0}");
        table.AddRow("unchanged", $"{s.Rows.Unchanged:N0}");
        if (s.Rows.Duplicates > 0) table.AddRow("duplicates", $"{s.Rows.Duplicates:N0} (same key, same content hash: not rewritten)");
        if (s.Rows.Kept > 0) table.AddRow("kept", $"{s.Rows.Kept:N0} (key existed: row kept, onConflict keep)");
        table.AddRow("rejected", s.Rows.Rejected > 0 ? $"[yellow]{s.Rows.Rejected:N0}[/] (see ingest.rejects)" : "0");
        table.AddRow("bytes read", $"{Bytes(s.BytesRead)} of {Bytes(s.BytesTotal)}");
        table.AddRow("rate", $"{s.RowsPerSecond:N0} rows/s");
        if (!s.State.IsFinal() && s.EtaSeconds is { } eta) table.AddRow("eta", Duration(eta));
        table.AddRow("submitted", $"{s.SubmittedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}");
        if (s.StartedAt is { } started)
            table.AddRow("duration", Duration(((s.FinishedAt ?? DateTimeOffset.UtcNow) - started).TotalSeconds));
        if (s.Messages is { } m)
        {
            table.AddRow("messages", $"{m.Consumed:N0} consumed, {m.Duplicate:N0} duplicate, {m.Redelivered:N0} redelivered, {m.Rejected:N0} rejected, {m.DeadLettered:N0} dead-lettered");
            table.AddRow("consumers", m.Consumers.Count == 0 ? "none running" : string.Join(", ", m.Consumers.Select(c => $"{c.Value} on {Markup.Escape(c.Key)}")));
            table.AddRow("backlog", m.Backlog is { } backlog ? $"{backlog:N0} messages" : "not read yet");
            table.AddRow("message rate", $"{m.MessagesPerSecond:N0} messages/s");
        }
        if (s.Archive is { } a)
            table.AddRow("archive", ArchiveMarkup(a));
        if (s.Notify is { } events)
            table.AddRow("events", $"{events.Sent:N0} sent, " + (events.Waiting > 0 ? $"[yellow]{events.Waiting:N0} waiting[/]" : "0 waiting")
                + (events.GivenUp > 0 ? $", [red]{events.GivenUp:N0} given up[/]" : "")
                + (events.LastError is { } why && (events.Waiting > 0 || events.GivenUp > 0) ? $" (last error: {Markup.Escape(why)})" : ""));
        if (s.Error is not null) table.AddRow("error", $"[red]{Markup.Escape(s.Error)}[/]");
        console.Write(table);

        if (s.Tables is { Count: > 0 } tables)
        {
            var perTable = new Table().Border(TableBorder.Simple).Title("rows per table");
            perTable.AddColumn("table").AddColumn(new TableColumn("inserted").RightAligned()).AddColumn(new TableColumn("updated").RightAligned())
                .AddColumn(new TableColumn("unchanged").RightAligned()).AddColumn(new TableColumn("deleted").RightAligned());
            foreach (var (name, c) in tables)
                perTable.AddRow(Markup.Escape(name), $"{c.Inserted:N0}", $"{c.Updated:N0}", $"{c.Unchanged:N0}", $"{c.Deleted:N0}");
            console.Write(perTable);
        }

        if (s.Quality is { } quality)
        {
            var rules = new Table().Border(TableBorder.Simple).Title("validation");
            rules.AddColumn("").AddColumn("column").AddColumn(new TableColumn("records").RightAligned());
            foreach (var (rule, n) in quality.Violations)
                rules.AddRow("[yellow]violated[/] " + Markup.Escape(rule[..rule.IndexOf('.')]), Markup.Escape(rule[(rule.IndexOf('.') + 1)..]), $"{n:N0}");
            foreach (var (column, n) in quality.DefaultsFilled) rules.AddRow("default filled", Markup.Escape(column), $"{n:N0}");
            console.Write(rules);
        }

        if (s.Files.Units is { Count: > 0 } units)
        {
            var perFile = new Table().Border(TableBorder.Simple).Title("files");
            perFile.AddColumn("unit").AddColumn("file").AddColumn("state");
            foreach (var name in new[] { "read", "inserted", "updated", "unchanged", "rejected" }) perFile.AddColumn(new TableColumn(name).RightAligned());
            foreach (var f in units)
                perFile.AddRow(f.UnitNo.ToString(), Markup.Escape(f.Key) + (f.Units > 1 ? $" ({f.Units} ranges)" : ""), f.State.Name(), $"{f.Rows.Read:N0}", $"{f.Rows.Inserted:N0}", $"{f.Rows.Updated:N0}",
                    $"{f.Rows.Unchanged:N0}", $"{f.Rows.Rejected:N0}");
            console.Write(perFile);
        }

        if (s.Files.SkippedFiles is { Count: > 0 } skipped)
        {
            var perFile = new Table().Border(TableBorder.Simple).Title("files skipped (committed before in their current version)");
            perFile.AddColumn("file").AddColumn("version").AddColumn(new TableColumn("committed by import").RightAligned());
            foreach (var f in skipped) perFile.AddRow(Markup.Escape(f.Key), Markup.Escape(f.Version ?? ""), f.CommittedBy?.ToString() ?? "");
            console.Write(perFile);
        }

        if (s.FailedUnits.Count == 0) return;
        var failed = new Table().Border(TableBorder.Simple).Title("[red]failed units[/]");
        failed.AddColumn("unit").AddColumn("file").AddColumn("attempts").AddColumn("error");
        foreach (var u in s.FailedUnits)
            failed.AddRow(u.UnitNo.ToString(), Markup.Escape(u.Key), u.Attempts.ToString(), Markup.Escape(u.Error ?? ""));
        console.Write(failed);
    }

    /// <summary>One plain line, for logs and non-terminals.</summary>
    public static string Line(ImportStatus s) =>
        $"import {s.Id} {s.State.Name()}: units {s.Units.Done + s.Units.Failed}/{s.Units.Total} ({s.Units.Failed} failed, {s.Units.Running} running), " +
        (s.Files.Skipped > 0 ? $"{s.Files.Skipped} files skipped, " : "") +
        $"rows {s.Rows.Read} read, {s.RowsPerSecond:F0} rows/s" + (s.Messages is { } m ? $", messages {m.Consumed} consumed, {m.Duplicate} duplicate, backlog {m.Backlog}" : "") + (s.EtaSeconds is { } eta && !s.State.IsFinal() ? $", eta {Duration(eta)}" : "");

    /// <summary>What archiving did, as status and reports show it.</summary>
    public static string ArchiveMarkup(ArchiveCounts a) =>
        $"{a.Archived:N0} uploaded, {a.PreExisting:N0} already there, " + (a.Errors > 0 ? $"[red]{a.Errors:N0} failed[/]" : "0 failed")
        + (a.Pending > 0 ? $", {a.Pending:N0} under way" : "");

    public static string StateMarkup(ImportState state) => state switch
    {
        ImportState.Completed => $"[green]{state.Name()}[/]",
        ImportState.CompletedWithErrors => $"[yellow]{state.Name()}[/]",
        ImportState.Failed or ImportState.Cancelled => $"[red]{state.Name()}[/]",
        _ => $"[blue]{state.Name()}[/]",
    };

    public static string Duration(double seconds) =>
        seconds < 60 ? $"{seconds:F1}s" : TimeSpan.FromSeconds(Math.Round(seconds)).ToString(seconds < 3600 ? @"m\m\ ss\s" : @"h\h\ mm\m");

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:F1} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):F1} MiB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):F2} GiB",
    };
}
