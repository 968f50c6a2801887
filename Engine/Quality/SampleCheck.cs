using Ingest.Engine.Mapping;
using Ingest.Engine.Relational;
using Ingest.Engine.Sources;
using Ingest.Engine.Sources.RabbitMq;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Quality;

/// <summary>
/// A dry run of an import over a sample: reads the first records of the first files (of a queue:
/// its first messages, returned to it afterwards), and maps, fills defaults and validates them
/// exactly as a silo would, writing nothing anywhere.
/// </summary>
public static class SampleCheck
{
    /// <summary>Examples kept per rule.</summary>
    public const int ExamplesPerRule = 5;

    public static async Task<SampleReport> RunAsync(ImportSpec spec, SourceRegistry sources, int recordsPerFile, int files, CancellationToken cancellationToken = default)
    {
        spec = await sources.ResolveAsync(spec, cancellationToken);
        var source = sources.For(CursorSince.Initially(spec));
        // An API is sampled by its first page only: every request counts against its quota.
        if (spec.Source.Kind == SourceKind.Http) files = 1;
        var target = source.Target;
        var plan = target.IsRelational ? new LoadPlan(target) : null;
        var flat = new CheckedMapper(target);
        var row = flat.CreateRow();
        var tally = new QualityTally();
        var now = DateTime.UtcNow;
        var rules = new Dictionary<string, RuleReport>(StringComparer.Ordinal);
        var fileErrors = new List<string>();
        long read = 0, valid = 0;

        // A relational target's rows are mapped and dropped record by record: nothing accumulates.
        var mapper = plan is null ? null : new RelationalMapper(plan, flat.Validator, now);
        mapper?.StartUnit(tally); // the sample's files count into one tally
        var sampled = 0;
        var queue = spec.Source.RabbitMq;
        // A queue is sampled as one unit, and is not declared: nothing is written anywhere.
        var units = queue is null ? source.PlanAsync(cancellationToken) : new[] { new UnitDescriptor(queue.Queue) }.ToAsyncEnumerable();
        await foreach (var item in units)
        {
            if (sampled++ == files) break;
            try
            {
                await using var unit = queue is null
                    ? await source.OpenAsync(item, null, cancellationToken)
                    : await QueueSample.OpenAsync(queue, spec.Source.Records, recordsPerFile, cancellationToken);
                var facts = new UnitFacts(0, unit.Info, unit.Messages);
                while (unit.RecordIndex + 1 < recordsPerFile && await unit.MoveNextAsync(cancellationToken))
                {
                    var (record, index) = (unit.Current, unit.RecordIndex);
                    var violations = new List<RuleViolation>();
                    bool ok;
                    RecordReject? reject;
                    if (unit.Unreadable is { } unreadable)
                    {
                        (ok, reject) = (false, unreadable);
                        violations.Add(new RuleViolation("malformed", "row", unreadable.Reason));
                    }
                    else if (mapper is not null)
                    {
                        ok = mapper.TryMap(record.Span, facts, index, out reject, violations);
                        foreach (var sink in mapper.Sinks) sink.Clear();
                    }
                    else ok = flat.TryMap(record.Span, row, facts, index, now, tally, out reject, violations);
                    read++;
                    if (ok) valid++;
                    else
                    {
                        // A value that does not convert is its own rule: convert.<column>.
                        if (violations.Count == 0) violations.Add(new RuleViolation("convert", reject!.Column, reject.Reason));
                        foreach (var v in violations)
                        {
                            var name = $"{v.Rule}.{v.Column}";
                            var report = rules.TryGetValue(name, out var r) ? r : rules[name] = new RuleReport(0, []);
                            rules[name] = report with { Records = report.Records + 1 };
                            if (report.Examples.Count < ExamplesPerRule) report.Examples.Add(new RuleExample(item.Key, index, unit.WithLine(v.Why)));
                        }
                    }
                }
            }
            catch (Exception e) when (e is SourceDataException or Sources.Http.HttpFetchException)
            {
                fileErrors.Add(e.Message);
            }
        }
        if (sampled == 0) throw source.NothingMatches();
        return new SampleReport(Math.Min(files, sampled), read, valid, read - valid, rules, tally.DefaultsFilled, fileErrors);
    }
}

/// <summary>What a dry run found.</summary>
/// <param name="Files">Files sampled.</param>
/// <param name="Records">Records read.</param>
/// <param name="Valid">Records that would load.</param>
/// <param name="Rejected">Records that would be rejected.</param>
/// <param name="Rules">By <c>rule.column</c>: records that broke it, and the first few with file and record index.</param>
/// <param name="DefaultsFilled">Values defaults would fill, by column.</param>
/// <param name="FileErrors">Files that could not be read (malformed JSON, gone).</param>
public sealed record SampleReport(int Files, long Records, long Valid, long Rejected, IReadOnlyDictionary<string, RuleReport> Rules,
    IReadOnlyDictionary<string, long> DefaultsFilled, IReadOnlyList<string> FileErrors)
{
    public bool Clean => Rejected == 0 && FileErrors.Count == 0;
}

public sealed record RuleReport(long Records, List<RuleExample> Examples);

public sealed record RuleExample(string File, long RecordIndex, string Problem);

/// <summary>One broken rule of a record: the rule (<c>required</c>, <c>range</c>, …), the column, and why.</summary>
public sealed record RuleViolation(string Rule, string Column, string Why);
