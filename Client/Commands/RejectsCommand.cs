using System.CommandLine;
using System.Text;
using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Client.Commands;

/// <summary><c>ingest rejects ID [--output FILE]</c>: an import's rejected records as JSON lines (file, record, column, reason, raw text).</summary>
public static class RejectsCommand
{
    public static Command Build(ClientContext context)
    {
        var id = new Argument<long>("id") { Description = "The import's id" };
        var output = new Option<string?>("--output") { Description = "Write the JSON lines to this file instead of stdout" };
        var command = new Command("rejects", "Export an import's rejected records as JSON lines: unit, file, record index, column, reason and the raw record") { id, output };
        command.SetAction((result, ct) => CommandRunner.RunAsync(context, async () =>
        {
            var importId = result.GetValue(id);
            if (await context.Catalog.GetImportAsync(importId, ct) is null)
            {
                await context.Error.WriteLineAsync($"no import with id {importId} (see 'ingest list')");
                return ExitCodes.NotFound;
            }
            var path = result.GetValue(output);
            await using var file = path is null ? null : new StreamWriter(path, false, new UTF8Encoding(false));
            var writer = (TextWriter?)file ?? context.Out;
            long count = 0;
            await foreach (var reject in context.Catalog.ReadRejectsAsync(importId, ct))
            {
                await writer.WriteLineAsync(JsonSerializer.Serialize(reject, ImportSpecJson.Options));
                count++;
            }
            if (path is not null) await context.Error.WriteLineAsync($"{count:N0} rejects of import {importId} written to {path}");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
