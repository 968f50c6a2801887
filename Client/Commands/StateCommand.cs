using System.CommandLine;
using Ingest.Catalog;
using Ingest.Client.Output;
using Ingest.Engine.Sources;
using Spectre.Console;

namespace Ingest.Client.Commands;

/// <summary><c>ingest state NAME [--json]</c>: what the watermark store holds for an import name.</summary>
public static class StateCommand
{
    public static Command Build(ClientContext context)
    {
        var name = new Argument<string>("name") { Description = "The import's name (the spec's name)" };
        var json = new Option<bool>("--json") { Description = "Print JSON on stdout" };
        var command = new Command("state", "Show what incremental imports of a name committed: each file's version, the cursor") { name, json };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var importName = result.GetValue(name)!;
            var state = await CommandRunner.ReadAsync(() => context.Catalog.GetWatermarksAsync(importName, ct), null);
            if (state is null)
            {
                await context.Error.WriteLineAsync($"no incremental state for '{importName}': none of its imports is incremental, or it was reset");
                return ExitCodes.NotFound;
            }
            if (result.GetValue(json))
            {
                Json.Write(context.Out, new
                {
                    name = state.Name, source = state.Source, target = state.Target, cursor = state.Cursor, importId = state.ImportId, updatedAt = state.UpdatedAt,
                    files = state.Files.Select(f => new
                    {
                        key = f.Key, rangeStart = f.RangeStart, rangeEnd = f.RangeEnd, version = f.Version, sizeBytes = f.Size, modified = f.Modified,
                        contentHash = f.ContentHash is { } hash ? Convert.ToHexStringLower(hash) : null, importId = f.ImportId, committedAt = f.CommittedAt,
                    }),
                });
                return ExitCodes.Ok;
            }
            Render(context.OutConsole, state);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static void Render(IAnsiConsole console, Watermarks.State state)
    {
        // A split file whose ranges did not all commit is committed in part: its next import loads it.
        var files = state.Files.GroupBy(f => f.Key, StringComparer.Ordinal).ToList();
        var whole = files.Count(g => FileWatermark.Cover(g, g.First().Size));
        // A source read by cursor has no files: its cursor is what it committed.
        var committed = files.Count == 0 && state.Cursor is not null ? "a cursor committed" : $"{whole} files" + (whole < files.Count ? $" committed, {files.Count - whole} in part" : " committed");
        console.MarkupLine($"[bold]{Markup.Escape(state.Name)}[/]: {committed}" +
                           (state.ImportId is { } id ? $", last written by import {id}" : "") + $", {state.UpdatedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}");
        if (state.Cursor is { } cursor) console.MarkupLine($"cursor: {Markup.Escape(cursor.GetRawText())}");
        if (state.Files.Count == 0) return;
        var ranged = state.Files.Any(f => f.RangeStart != 0 || f.RangeEnd is not null);
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("file");
        if (ranged) table.AddColumn("bytes");
        table.AddColumns("version", "size", "modified", "import", "committed");
        foreach (var f in state.Files)
        {
            var row = new List<string> { Markup.Escape(f.Key) };
            if (ranged) row.Add($"{f.RangeStart}–{f.RangeEnd?.ToString() ?? "end"}");
            row.AddRange([Markup.Escape(f.Version), f.Size?.ToString("N0") ?? "", f.Modified?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss") ?? "",
                f.ImportId.ToString(), f.CommittedAt?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss") ?? ""]);
            table.AddRow([.. row]);
        }
        console.Write(table);
    }
}
