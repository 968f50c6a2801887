using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using PuppeteerSharp;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// The web console a silo serves, in Debian's chromium driven by PuppeteerSharp: a running import's
/// progress advances on the home page, an action is refused without the token and done with it,
/// names, file names and rejects holding markup show as text; and its API's tokens.
/// With <c>INGEST_SCREENSHOTS=DIR</c>, each page is saved there.
/// </summary>
public class WebConsoleTests(ITestOutputHelper output)
{
    private const string Hostile = "<script>alert('name')</script><img src=x onerror=alert('img')>";
    private const string Token = "console-token-7f3a";

    [Fact]
    public async Task The_console_follows_an_import_live_acts_only_with_the_token_and_shows_markup_as_text()
    {
        using var data = new TempFolder().WithPages(files: 20, perFile: 5);
        data.Write("<b>bold<img src=x onerror=alert('file')>.json", """
            {"results": [{"id": 9001, "name": "<script>alert('row')</script>", "rating": "<img src=x onerror=alert('reject')>"}]}
            """);
        data.Write("<i>broken<i>.json", "{ not json");
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 0.4);
        var port = ExternalCommand.FreePort();
        // The folder is a reference the silo resolves: the page shows the reference, never the value.
        await db.StartSilo(env: new Dictionary<string, string>
        {
            ["INGEST_WEB_PORT"] = port.ToString(), ["INGEST_WEB_TOKEN"] = Token, ["INGEST_TRACE_URL"] = "http://jaeger.example:16686/trace/{traceId}",
            ["CONSOLE_TEST_FOLDER"] = data.Path,
        }, batches: false).StartedAsync();
        var id = await db.SubmitAsync(Specs.Files("${CONSOLE_TEST_FOLDER}", parallelism: 1, attempts: 2, name: Hostile));
        var site = $"http://127.0.0.1:{port}";

        await using var browser = await LaunchAsync();
        await using var page = await browser.NewPageAsync();
        var dialogs = new ConcurrentQueue<string>();
        string? answer = null;
        page.Dialog += async (_, e) =>
        {
            dialogs.Enqueue(e.Dialog.Message);
            if (answer is null) await e.Dialog.Dismiss(); else await e.Dialog.Accept(answer);
        };
        await page.GoToAsync(site + "/");
        var row = $"tr[data-id=\"{id}\"]";
        await page.WaitForSelectorAsync(row + " .rows");

        // The rows read advance without a reload.
        async Task<string> TextAsync(string selector) => await page.EvaluateFunctionAsync<string>("s => document.querySelector(s)?.textContent ?? ''", selector);
        // Found and clicked in one step: the page redraws its rows as it polls, which detaches a handle held across two.
        Task ClickAsync(string selector) => Poll.UntilAsync(
            () => page.EvaluateFunctionAsync<bool>("s => { const b = document.querySelector(s); if (!b) return false; b.click(); return true; }", selector),
            TimeSpan.FromSeconds(10), $"{selector} clicked");
        var first = await TextAsync(row + " .rows");
        await Poll.UntilAsync(async () => await TextAsync(row + " .rows") != first, TimeSpan.FromSeconds(30), () => $"rows read past {first}");
        Assert.Equal(Hostile, await TextAsync(row + " .name"));
        await ScreenshotAsync(page, "console-home.png");

        // Without the token (the prompt dismissed), then with a wrong one: refused; the import runs on.
        await ClickAsync(row + " button[data-action=pause]");
        answer = "not-the-token";
        await ClickAsync(row + " button[data-action=pause]");
        await Poll.UntilAsync(async () => (await TextAsync("#message")).Contains("refused"), TimeSpan.FromSeconds(10), "the refusal shown");
        Assert.Equal(ImportState.Running, (await db.StatusAsync(id)).State);
        // With the token: paused.
        await page.EvaluateFunctionAsync("() => sessionStorage.removeItem('ingest.token')");
        answer = Token;
        await ClickAsync(row + " button[data-action=pause]");
        await Poll.UntilAsync(async () => (await db.StatusAsync(id)).State == ImportState.Paused, TimeSpan.FromSeconds(10), "the import paused from the page");
        await Poll.UntilAsync(async () => await TextAsync(row + " .state") == "paused", TimeSpan.FromSeconds(10), "the page showing it paused");
        await ClickAsync(row + " button[data-action=resume]");
        await db.WaitForAsync(id, TimeSpan.FromSeconds(90));

        await page.GoToAsync($"{site}/imports/{id}");
        await page.WaitForSelectorAsync("#rejects tbody tr");
        Assert.Equal(Hostile, await TextAsync("#title .name"));
        Assert.Contains("<img src=x onerror=alert('reject')>", await TextAsync("#rejects tbody"));
        await Poll.UntilAsync(async () => (await TextAsync("#files tbody")).Contains("<b>bold<img src=x onerror=alert('file')>.json"), TimeSpan.FromSeconds(10), "the files table");
        var spec = await TextAsync("#spec");
        Assert.Contains(Hostile, spec);
        Assert.Contains("${CONSOLE_TEST_FOLDER}", spec);
        Assert.DoesNotContain(data.Path, await page.GetContentAsync());
        Assert.Equal("games 100 0 0 0", await page.EvaluateFunctionAsync<string>("() => [...document.querySelectorAll('#tables tbody td')].map(c => c.textContent).join(' ')"));
        // The unit that cannot be read, with its attempts and error.
        var failed = await TextAsync("#failed tbody");
        Assert.Contains("<i>broken<i>.json", failed);
        Assert.Contains("JSON", failed);
        // The trace's link, from INGEST_TRACE_URL; the pause and resume among the events.
        var traceId = (await db.StatusAsync(id)).TraceId;
        Assert.Equal($"http://jaeger.example:16686/trace/{traceId}", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#actions a')?.href ?? ''"));
        var events = await TextAsync("#events tbody");
        Assert.Contains("paused", events);
        Assert.Contains("resumed", events);
        await ScreenshotAsync(page, "console-import.png");
        await page.GoToAsync(site + "/silos");
        await page.WaitForSelectorAsync("#silos tbody tr");
        Assert.Contains("active", await TextAsync("#silos tbody"));
        await ScreenshotAsync(page, "console-silos.png");

        // No markup from the data ran: no alert, no image made of it; the only dialogs were the token prompts.
        Assert.All(dialogs, d => Assert.Contains("Token", d));
        Assert.Equal(0, await page.EvaluateExpressionAsync<int>("document.querySelectorAll('img, b, i').length"));
    }

    [Fact]
    public async Task With_a_read_token_reading_needs_it_and_without_an_action_token_the_console_is_read_only()
    {
        await using var db = await TestDatabase.CreateAsync();
        var port = ExternalCommand.FreePort();
        await db.StartSilo(env: new Dictionary<string, string> { ["INGEST_WEB_PORT"] = port.ToString(), ["INGEST_WEB_READ_TOKEN"] = "reader" }).StartedAsync();
        using var data = new TempFolder().WithPages(files: 1, perFile: 2);
        var id = (await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)))).Id;
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        var anonymous = await http.GetAsync("/api/imports");
        var page = await http.GetAsync("/");
        using var read = new HttpRequestMessage(HttpMethod.Get, $"/api/imports/{id}") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "reader") } };
        var withToken = await http.SendAsync(read);
        using var act = new HttpRequestMessage(HttpMethod.Post, $"/api/imports/{id}/retry") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "reader") } };
        var action = await http.SendAsync(act);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode); // the page holds no data
        Assert.Equal(HttpStatusCode.OK, withToken.StatusCode);
        var body = JsonDocument.Parse(await withToken.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("completed", body.GetProperty("report").GetProperty("status").GetProperty("state").GetString());
        // The shape of status --json at the top.
        var status = JsonDocument.Parse((await CliProcess.RunAsync(db.ConnectionString, "status", id.ToString(), "--json")).Stdout).RootElement;
        foreach (var field in new[] { "id", "name", "state", "units", "rows", "traceId", "submittedAt" })
            Assert.True(JsonElement.DeepEquals(status.GetProperty(field), body.GetProperty(field)), $"{field}: {status.GetProperty(field)} vs {body.GetProperty(field)}");
        Assert.Equal(HttpStatusCode.Forbidden, action.StatusCode);
        Assert.Contains("read-only", await action.Content.ReadAsStringAsync());

        // The name filter finds an import however many newer ones there are.
        await db.ExecuteAsync("""
            INSERT INTO ingest.imports (name, spec, parallelism, max_attempts, backoff_seconds, state, finished_at)
            SELECT 'other-' || g, spec, parallelism, max_attempts, backoff_seconds, 'cancelled', now() FROM ingest.imports, generate_series(1, 300) g
            """);
        using var byName = new HttpRequestMessage(HttpMethod.Get, "/api/imports?name=TEST-imp") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "reader") } };
        var found = JsonDocument.Parse(await (await http.SendAsync(byName)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal([id], found.EnumerateArray().Select(i => i.GetProperty("id").GetInt64()));
    }

    private static async Task<IBrowser> LaunchAsync() => await Puppeteer.LaunchAsync(new LaunchOptions
    {
        ExecutablePath = "/usr/bin/chromium",
        Headless = true,
        UserDataDir = Directory.CreateTempSubdirectory("ingest-chromium-").FullName,
        // Root needs --no-sandbox; the rest keeps it from reaching for the network.
        Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });

    private async Task ScreenshotAsync(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable("INGEST_SCREENSHOTS") is not { Length: > 0 } folder) return;
        await page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 800 });
        await page.ScreenshotAsync(Path.Combine(folder, name), new ScreenshotOptions { FullPage = true });
        output.WriteLine($"screenshot: {Path.Combine(folder, name)}");
    }
}
