using System.Text.Json;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// <c>ingest report</c>: the catalog over a period and one import in depth, their numbers against
/// the catalog's status, errors and rejects grouped, and the report written to a file.
/// </summary>
public class ReportTests
{
    [Fact]
    public async Task Reports_count_as_status_does_and_group_errors_by_cause_and_rejects_by_reason()
    {
        using var good = new TempFolder().WithPages(files: 3, perFile: 4);
        using var bad = new TempFolder();
        for (var f = 0; f < 4; f++)
            bad.Write($"page-{f}.json", "[" + string.Join(",", Enumerable.Range(f * 10 + 100, 10).Select(i =>
                $$"""{"id": {{i}}, "name": "g{{i}}", "rating": {{(i % 5 == 0 ? $"\"not a number {i}\"" : "4.5")}}}""")) + "]");
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateWithTriggerAsync(db, "IF NEW.id IN (103, 123) THEN RAISE EXCEPTION 'a cursed game'; END IF;", forEachRow: true);
        await db.StartSilo(batches: false).StartedAsync();
        var completed = (await db.WaitForAsync(await db.SubmitAsync(Specs.Files(good.Path, name: "good")))).Id;
        var withErrors = (await db.WaitForAsync(await db.SubmitAsync(Specs.Files(bad.Path, name: "bad", records: null, attempts: 1)))).Id;
        var failed = (await db.WaitForAsync(await db.SubmitAsync(Specs.Files(Path.Combine(good.Path, "missing"), name: "missing")))).Id;
        var errorsStatus = await db.StatusAsync(withErrors);
        Assert.Equal(ImportState.CompletedWithErrors, errorsStatus.State);

        var overview = await CliProcess.RunAsync(db.ConnectionString, "report", "--since", "1d", "--json");
        using var specs = new TempFolder();
        var file = Path.Combine(specs.Path, "report.json");
        var one = await CliProcess.RunAsync(db.ConnectionString, "report", withErrors.ToString(), "--json", "--output", file);
        var text = await CliProcess.RunAsync(db.ConnectionString, "report", withErrors.ToString());
        var textOverview = await CliProcess.RunAsync(db.ConnectionString, "report");

        Assert.True(overview.ExitCode == 0, overview.ToString());
        var o = JsonDocument.Parse(overview.Stdout).RootElement;
        Assert.Equal(1, o.GetProperty("byState").GetProperty("completed").GetInt32());
        Assert.Equal(1, o.GetProperty("byState").GetProperty("completed_with_errors").GetInt32());
        Assert.Equal(1, o.GetProperty("byState").GetProperty("failed").GetInt32());
        Assert.Equal(1.0 / 3, o.GetProperty("successRate").GetDouble(), 6);
        var loaded = (await db.StatusAsync(completed)).Rows.Inserted + errorsStatus.Rows.Inserted + errorsStatus.Rows.Updated;
        Assert.Equal(loaded, o.GetProperty("rowsByTable").GetProperty("public.games").GetInt64());
        Assert.Equal([failed, withErrors, completed], o.GetProperty("recent").EnumerateArray().Select(i => i.GetProperty("id").GetInt64()));
        var mostRejects = o.GetProperty("mostRejects").EnumerateArray().Single();
        Assert.Equal((withErrors, errorsStatus.Rows.Rejected), (mostRejects.GetProperty("id").GetInt64(), mostRejects.GetProperty("rejected").GetInt64()));

        Assert.True(one.ExitCode == 0, one.ToString());
        var r = JsonDocument.Parse(await File.ReadAllTextAsync(file)).RootElement;
        Assert.Equal(errorsStatus.Rows.Inserted, r.GetProperty("status").GetProperty("rows").GetProperty("inserted").GetInt64());
        var error = r.GetProperty("errors").EnumerateArray().Single();
        Assert.Equal(2, error.GetProperty("units").GetInt32());
        Assert.Contains("a cursed game", error.GetProperty("cause").GetString());
        Assert.Equal(["page-0.json", "page-2.json"], error.GetProperty("examples").EnumerateArray().Select(e => e.GetString()));
        // The two failed pages' rejects rolled back with them; the other two pages' rejects share one reason.
        var reject = r.GetProperty("rejects").EnumerateArray().Single();
        Assert.Equal(("rating", 4L), (reject.GetProperty("column").GetString(), reject.GetProperty("count").GetInt64()));
        Assert.EndsWith("at 'rating': \"…\" is not a number", reject.GetProperty("reason").GetString());
        Assert.Equal(3, reject.GetProperty("examples").GetArrayLength());
        Assert.Equal("bad", r.GetProperty("spec").GetProperty("name").GetString());
        // Its rows per second over its run: steps of equal length, adding up to the rows it read.
        var steps = r.GetProperty("throughput").EnumerateArray().Select(p => (At: p.GetProperty("at").GetDateTimeOffset(), Rate: p.GetProperty("rowsPerSecond").GetDouble())).ToList();
        Assert.NotEmpty(steps);
        var step = steps.Count > 1 ? (steps[1].At - steps[0].At).TotalSeconds : 1;
        Assert.All(steps.Skip(1), (p, i) => Assert.Equal(step, (p.At - steps[i].At).TotalSeconds, 3));
        Assert.Equal(errorsStatus.Rows.Read, steps.Sum(p => p.Rate * step), 3);
        Assert.Equal(["submitted", "planned", "completed_with_errors"],
            r.GetProperty("timeline").EnumerateArray().Select(e => e.GetProperty("kind").GetString()).Where(k => k is "submitted" or "planned" or "completed_with_errors"));
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("errors by cause", text.Stdout);
        Assert.Contains("rejects by reason", text.Stdout);
        Assert.True(textOverview.ExitCode == 0, textOverview.ToString());
        Assert.Contains("success rate 33.3%", textOverview.Stdout.Replace(" %", "%"));
    }
}
