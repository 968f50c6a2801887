using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Ingest.Silo.Web;

/// <summary>
/// The web console: three pages (imports, one import, silos) that draw themselves from a JSON API
/// (<c>/api/imports</c>, <c>/api/imports/{id}</c>, <c>/api/silos</c>) and act through it
/// (<c>POST /api/imports/{id}/pause|resume|cancel|retry</c>, with the bearer token). The pages hold
/// no data: every value reaches them through the API and is set as text, never as markup.
/// </summary>
public static class WebConsole
{
    private static readonly Dictionary<string, string> Assets = new()
    {
        ["/"] = "index.html", ["/silos"] = "silos.html", ["/console.js"] = "console.js", ["/console.css"] = "console.css",
    };

    public static void Map(IEndpointRouteBuilder app, WebConsoleOptions options, string clusterId)
    {
        foreach (var (path, asset) in Assets) app.MapGet(path, () => Asset(asset));
        app.MapGet("/imports/{id:long}", (long id) => Asset("import.html"));

        app.MapGet("/api/imports", async (HttpContext http, ImportCatalog catalog, string? state, string? name, CancellationToken ct) =>
        {
            if (Refused(http, options.ReadToken, options.Token) is { } refused) return refused;
            ImportState? only = null;
            if (state is { Length: > 0 })
            {
                if (!Enum.GetValues<ImportState>().Any(s => s.Name() == state)) return Results.BadRequest(new { error = $"unknown state '{state}'" });
                only = StateNames.ToImportState(state);
            }
            var imports = await catalog.ListAsync(only, limit: 50, nameContains: name is { Length: > 0 } ? name : null, cancellationToken: ct);
            var statuses = new List<ImportStatus>();
            foreach (var summary in imports)
                if (await catalog.GetStatusAsync(summary.Id, ct) is { } status) statuses.Add(status);
            return Json(statuses);
        });
        app.MapGet("/api/imports/{id:long}", async (HttpContext http, ImportReports reports, long id, CancellationToken ct) =>
        {
            if (Refused(http, options.ReadToken, options.Token) is { } refused) return refused;
            if (await reports.ImportAsync(id, ct) is not { } report) return Results.NotFound(new { error = $"no import with id {id}" });
            var traceUrl = options.TraceUrl is { } url && report.Status.TraceId is { } traceId ? url.Replace("{traceId}", traceId) : null;
            // The shape of status --json, with the report and the trace's link beside its fields.
            var body = JsonSerializer.SerializeToNode(report.Status, ImportSpecJson.Options)!.AsObject();
            body["report"] = JsonSerializer.SerializeToNode(report, ImportSpecJson.Options);
            body["traceUrl"] = traceUrl;
            return Json(body);
        });
        app.MapGet("/api/silos", async (HttpContext http, ImportCatalog catalog, CancellationToken ct) =>
            Refused(http, options.ReadToken, options.Token) ?? Json(await catalog.ListSilosAsync(clusterId, cancellationToken: ct)));
        app.MapPost("/api/imports/{id:long}/{action:regex(^(pause|resume|cancel|retry)$)}", async (HttpContext http, ImportCatalog catalog, IGrainFactory grains, long id, string action) =>
        {
            if (options.Token is null) return Results.Json(new { error = "the console is read-only: set INGEST_WEB_TOKEN on the silos to act from it" }, statusCode: 403);
            if (Refused(http, options.Token) is { } refused) return refused;
            if (await catalog.GetImportAsync(id) is null) return Results.NotFound(new { error = $"no import with id {id}" });
            var grain = grains.GetGrain<IImportGrain>(id);
            var result = await (action switch
            {
                "pause" => grain.PauseAsync(),
                "resume" => grain.ResumeAsync(),
                "cancel" => grain.CancelAsync(),
                _ => grain.RetryAsync(),
            });
            return result.Applied
                ? Json(new { applied = true, state = result.State })
                : Results.Json(new { applied = false, state = result.State, error = result.Why ?? $"import {id} is {result.State?.Name()}: cannot {action} it" }, ImportSpecJson.Options, statusCode: 409);
        });
    }

    private static IResult Json(object? value) => Results.Json(value, ImportSpecJson.Options);

    // Null when the request may go on: no token is asked for, or it brings one of those asked for.
    private static IResult? Refused(HttpContext http, params string?[] tokens)
    {
        var asked = tokens.Where(t => t is not null).ToList();
        if (asked.Count == 0 || tokens[0] is null) return null;
        var header = http.Request.Headers.Authorization.ToString();
        var given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? Encoding.UTF8.GetBytes(header["Bearer ".Length..]) : [];
        if (asked.Any(t => CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes(t!)))) return null;
        return Results.Json(new { error = "a token is needed: Authorization: Bearer <token>" }, statusCode: 401);
    }

    private static IResult Asset(string name)
    {
        var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"Ingest.Silo.Web.wwwroot.{name}")
                     ?? throw new InvalidOperationException($"web console asset {name} is not embedded");
        var type = Path.GetExtension(name) switch { ".html" => "text/html; charset=utf-8", ".js" => "text/javascript; charset=utf-8", _ => "text/css; charset=utf-8" };
        return Results.Stream(stream, type);
    }
}
