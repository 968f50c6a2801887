using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Spectre.Console;

namespace Ingest.Client.Output;

/// <summary>Renders reports for people; timestamps in ISO form (UTC).</summary>
public static class ReportView
{
    public static void Render(IAnsiConsole console, OverviewReport r)
    {
        console.MarkupLine($"[bold]imports since {r.Since:yyyy-MM-ddTHH:mm:ssZ}[/]: {r.ByState.Values.Sum()}" +
                           (r.SuccessRate is { } rate ? $", success rate {rate:P1} (completed of ended)" : ""));
        foreach (var (state, count) in r.ByState) console.MarkupLine($"  {StatusView.StateMarkup(state)}: {count}");
        if (r.RowsByTable.Count > 0)
        {
            var tables = new Table().Border(TableBorder.Simple).Title("rows loaded per table");
            tables.AddColumn("table").AddColumn(new TableColumn("rows (inserted + updated)").RightAligned());
            foreach (var (table, rows) in r.RowsByTable) tables.AddRow(Markup.Escape(table), $"{rows:N0}");
            console.Write(tables);
        }
        if (r.Archive is { } archive) console.MarkupLine($"archive: {StatusView.ArchiveMarkup(archive)}");
        Imports(console, "most recent", r.Recent);
        Imports(console, "slowest", r.Slowest);
        Imports(console, "most rejects", r.MostRejects);
    }

    public static void Render(IAnsiConsole console, ImportReport r)
    {
        StatusView.Render(console, r.Status);
        console.MarkupLine($"throughput: {r.RowsPerSecond:N0} rows/s, {r.UnitsPerHour:N0} units/h");
        if (r.Errors.Count > 0)
        {
            var errors = new Table().Border(TableBorder.Simple).Title("[red]errors by cause[/]");
            errors.AddColumn("cause").AddColumn(new TableColumn("units").RightAligned()).AddColumn("for example");
            foreach (var e in r.Errors) errors.AddRow(Markup.Escape(e.Cause), e.Units.ToString(), Markup.Escape(string.Join(", ", e.Examples)));
            console.Write(errors);
        }
        if (r.Rejects.Count > 0)
        {
            var rejects = new Table().Border(TableBorder.Simple).Title("[yellow]rejects by reason[/]");
            rejects.AddColumn("column").AddColumn("reason").AddColumn(new TableColumn("records").RightAligned()).AddColumn("for example");
            foreach (var g in r.Rejects)
                rejects.AddRow(Markup.Escape(g.Column ?? ""), Markup.Escape(g.Reason), $"{g.Count:N0}",
                    Markup.Escape(string.Join("; ", g.Examples.Select(x => $"{x.File} record {x.RecordIndex}: {x.Reason}"))));
            console.Write(rejects);
        }
        if (r.ArchiveFailures.Count > 0)
        {
            var archive = new Table().Border(TableBorder.Simple).Title("[red]files not archived[/]");
            archive.AddColumn("unit").AddColumn("file").AddColumn("key").AddColumn("error");
            foreach (var f in r.ArchiveFailures)
                archive.AddRow(f.UnitNo.ToString(), Markup.Escape(f.File), Markup.Escape(f.Key is null ? "" : $"s3://{f.Bucket}/{f.Key}"), Markup.Escape(f.Error ?? ""));
            console.Write(archive);
        }
        var timeline = new Table().Border(TableBorder.Simple).Title("timeline");
        timeline.AddColumn("at").AddColumn("event").AddColumn("unit").AddColumn("message");
        foreach (var e in r.Timeline)
            timeline.AddRow($"{e.At.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}", Markup.Escape(e.Kind), e.UnitNo?.ToString() ?? "", Markup.Escape(e.Message ?? ""));
        console.Write(timeline);
        console.Write(new Panel(new Text(System.Text.Json.JsonSerializer.Serialize(r.Spec, new System.Text.Json.JsonSerializerOptions { WriteIndented = true })))
            .Header("spec").Border(BoxBorder.Rounded));
    }

    private static void Imports(IAnsiConsole console, string title, IReadOnlyList<ReportedImport> imports)
    {
        if (imports.Count == 0) return;
        var table = new Table().Border(TableBorder.Simple).Title(title);
        table.AddColumn("id").AddColumn("name").AddColumn("state").AddColumn(new TableColumn("rows loaded").RightAligned())
            .AddColumn(new TableColumn("rejected").RightAligned()).AddColumn(new TableColumn("duration").RightAligned()).AddColumn("submitted");
        foreach (var i in imports)
            table.AddRow(i.Id.ToString(), Markup.Escape(i.Name), StatusView.StateMarkup(i.State), $"{i.RowsLoaded:N0}", $"{i.Rejected:N0}",
                i.DurationSeconds is { } d ? StatusView.Duration(d) : "", $"{i.SubmittedAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}");
        console.Write(table);
    }
}
