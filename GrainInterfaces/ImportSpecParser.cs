using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Ingest.GrainInterfaces;

/// <summary>
/// Reads an import spec from JSON or YAML and validates all of it, so that a user learns every
/// problem at once. Strings are kept as written: <c>${ENV_VAR}</c> references are resolved by the
/// silos when they run, so secrets are never stored.
/// </summary>
public static partial class ImportSpecParser
{
    /// <summary>Parses the spec file at <paramref name="path"/> (YAML when it ends in .yaml/.yml).</summary>
    public static ImportSpec ParseFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpecException([$"cannot read spec file '{path}': {e.Message}"]);
        }
        var yaml = path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);
        return yaml ? ParseYaml(text) : ParseJson(text);
    }

    /// <summary>Parses a JSON spec.</summary>
    public static ImportSpec ParseJson(string json)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new SpecException([$"spec is not valid JSON: {e.Message}"]); }
        return FromNode(node);
    }

    /// <summary>Parses a YAML spec.</summary>
    public static ImportSpec ParseYaml(string yaml)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlException e) { throw new SpecException([$"spec is not valid YAML: {e.Message}"]); }
        return FromNode(stream.Documents.Count == 0 ? null : ToJson(stream.Documents[0].RootNode));
    }

    /// <summary>Validates a parsed JSON tree into a spec.</summary>
    public static ImportSpec FromNode(JsonNode? root)
    {
        var p = new List<string>();
        if (root is not JsonObject o)
            throw new SpecException(["spec must be an object with name, source and target"]);

        var name = RequiredString(o, "name", "name", p) ?? "";
        var source = ReadSource(o["source"], p);
        var target = ReadTarget(o["target"], source?.IsCsv() == true, p, source?.Kind == SourceKind.Sql);
        if (source is not null && target is not null) CheckCsvColumns(source, target, p);
        if (source is not null && target is not null) CheckMessageColumns(source, target, p);
        if (source is not null && target is not null) CheckHttpMeta(source, target, p);
        var parallelism = OptionalInt(o, "parallelism", "parallelism", ImportSpec.DefaultParallelism, p);
        if (parallelism < 1) p.Add("parallelism: must be at least 1");

        var retry = RetrySpec.Default;
        if (o["retry"] is { } r)
        {
            if (r is JsonObject ro)
            {
                retry = new RetrySpec(
                    OptionalInt(ro, "attempts", "retry.attempts", RetrySpec.Default.Attempts, p),
                    OptionalDouble(ro, "backoffSeconds", "retry.backoffSeconds", RetrySpec.Default.BackoffSeconds, p),
                    ro.ContainsKey("attemptTimeoutSeconds") ? OptionalDouble(ro, "attemptTimeoutSeconds", "retry.attemptTimeoutSeconds", 0, p) : null);
                if (retry.Attempts < 1) p.Add("retry.attempts: must be at least 1");
                if (retry.BackoffSeconds < 0) p.Add("retry.backoffSeconds: must not be negative");
                if (retry.AttemptTimeoutSeconds is <= 0 or > RetrySpec.MaxAttemptTimeoutSeconds)
                    p.Add($"retry.attemptTimeoutSeconds: must be more than 0 and at most {RetrySpec.MaxAttemptTimeoutSeconds} (30 days)");
                Unknown(ro, "retry", p, "attempts", "backoffSeconds", "attemptTimeoutSeconds");
            }
            else p.Add("retry: must be an object with attempts, backoffSeconds and attemptTimeoutSeconds");
        }
        var notify = ReadNotify(o["notify"], p);
        // A queue's consumers hold its parallelism's slots: one each, by default all of them.
        if (source?.RabbitMq is { } queue)
        {
            if (queue.Consumers > parallelism) p.Add($"source.consumers: {queue.Consumers} is more than parallelism ({parallelism}), which caps the import's consumers");
            source = source with { RabbitMq = queue with { Consumers = queue.Consumers ?? parallelism } };
        }
        var priority = OptionalInt(o, "priority", "priority", 0, p);
        var schedule = OptionalString(o, "schedule", "schedule", p);
        var timeZone = OptionalString(o, "timeZone", "timeZone", p);
        if (schedule is not null && CronSchedule.Parse(schedule, timeZone, out var problem) is null) p.Add(problem!);
        if (schedule is null && timeZone is not null) p.Add("timeZone: only with a schedule");
        var archive = ReadArchive(o["archive"], p);
        Unknown(o, "", p, "name", "source", "target", "parallelism", "retry", "priority", "schedule", "timeZone", "notify", "archive");

        if (p.Count > 0) throw new SpecException(p);
        return new ImportSpec(name, source!, target!, parallelism, retry, priority, schedule, timeZone, notify, archive);
    }

    private static ArchiveSpec? ReadArchive(JsonNode? node, List<string> p)
    {
        if (node is null) return null;
        if (node is not JsonObject a) { p.Add("archive: must be an object with bucket and key"); return null; }
        var bucket = RequiredString(a, "bucket", "archive.bucket", p);
        var key = RequiredString(a, "key", "archive.key", p);
        var tenant = OptionalString(a, "tenant", "archive.tenant", p);
        Unknown(a, "archive", p, "bucket", "key", "tenant");
        var problems = ArchiveSpec.Problems(bucket, key, tenant).ToList();
        p.AddRange(problems);
        return bucket is null || key is null || problems.Count > 0 ? null : new ArchiveSpec(bucket, key, tenant);
    }

    private static SourceSpec? ReadSource(JsonNode? node, List<string> p)
    {
        if (node is not JsonObject s) { p.Add("source: required, an object with kind 'files', 's3', 'http', 'sql' or 'rabbitmq'"); return null; }
        var kindText = RequiredString(s, "kind", "source.kind", p);
        SourceKind? kind = kindText switch
        {
            null => null,
            "files" => SourceKind.Files,
            "s3" => SourceKind.S3,
            "http" => SourceKind.Http,
            "rabbitmq" => SourceKind.RabbitMq,
            "sql" => SourceKind.Sql,
            _ => null,
        };
        if (kindText is not null && kind is null) p.Add($"source.kind: unknown source kind '{kindText}' (expected 'files', 's3', 'http', 'sql' or 'rabbitmq')");
        if (kind == SourceKind.Sql) return ReadSqlSource(s, p);
        RabbitMqSpec? rabbitMq = null;

        string? path = null, bucket = null, prefix = null;
        if (kind == SourceKind.Files)
        {
            path = RequiredString(s, "path", "source.path", p);
            Unknown(s, "source", p, "kind", "path", "pattern", "records", "format", "compression", "chunkRows", "splitBytes", "csv", "incremental");
        }
        else if (kind == SourceKind.S3)
        {
            bucket = RequiredString(s, "bucket", "source.bucket", p);
            prefix = OptionalString(s, "prefix", "source.prefix", p) ?? "";
            Unknown(s, "source", p, "kind", "bucket", "prefix", "pattern", "records", "format", "compression", "chunkRows", "splitBytes", "csv", "incremental");
        }
        else if (kind == SourceKind.Http)
        {
            var http = ReadHttp(s, p);
            var httpRecords = OptionalString(s, "records", "source.records", p);
            if (httpRecords is not null && !IsDottedPath(httpRecords)) p.Add($"source.records: '{httpRecords}' is not a dotted path like 'results' or 'data.items'");
            var cursor = ReadHttpCursor(s["incremental"], http, p);
            return http is null ? null : new SourceSpec(SourceKind.Http, null, null, null, "*", httpRecords, "json", Http: http, Incremental: cursor is not null, Cursor: cursor);
        }
        else if (kind == SourceKind.RabbitMq)
        {
            rabbitMq = ReadRabbitMq(s, p);
        }
        var pattern = OptionalString(s, "pattern", "source.pattern", p) ?? "*.json";
        var records = OptionalString(s, "records", "source.records", p);
        if (records is not null && !IsDottedPath(records)) p.Add($"source.records: '{records}' is not a dotted path like 'results' or 'data.items'");
        var format = OptionalString(s, "format", "source.format", p);
        if (format is not null && !SourceSpec.Formats.Contains(format))
            p.Add($"source.format: unknown format '{format}' (expected {string.Join(" or ", SourceSpec.Formats)}; absent: by each file's extension)");
        var compression = OptionalString(s, "compression", "source.compression", p);
        if (compression is not null && !SourceSpec.Compressions.Contains(compression))
            p.Add($"source.compression: unknown compression '{compression}' (expected {string.Join(", ", SourceSpec.Compressions)}; absent: by extension, .gz or .zst)");
        var chunkRows = OptionalInt(s, "chunkRows", "source.chunkRows", SourceSpec.DefaultChunkRows, p);
        if (chunkRows < 1) p.Add("source.chunkRows: must be at least 1");
        var splitBytes = OptionalLong(s, "splitBytes", "source.splitBytes", SourceSpec.DefaultSplitBytes, p);
        if (splitBytes < 1) p.Add("source.splitBytes: must be at least 1");
        var csv = ReadCsv(s["csv"], p);
        if (csv is not null && format is "json" or "ndjson") p.Add($"source.csv: only for CSV files, but source.format is '{format}'");
        if (kind == SourceKind.RabbitMq && (format is "csv" or "tsv" || csv is not null)) p.Add("source.format: a message body is JSON (an object, an array or NDJSON)");
        var incremental = OptionalBool(s, "incremental", "source.incremental", false, p);
        return kind is null ? null : new SourceSpec(kind.Value, path, bucket, prefix, pattern, records, format, compression, chunkRows, csv, splitBytes, Incremental: incremental, RabbitMq: rabbitMq);
    }

    private static bool IsDottedPath(string path) =>
        path.Length > 0 && path.Split('.').All(s => s.Length > 0);

    private static T Problem<T>(List<string> p, string message, T value) { p.Add(message); return value; }

    private static void Unknown(JsonObject o, string where, List<string> p, params string[] known)
    {
        foreach (var (name, _) in o)
            if (!known.Contains(name, StringComparer.Ordinal))
                p.Add($"{(where.Length == 0 ? name : where + "." + name)}: unknown field (expected one of {string.Join(", ", known)})");
    }

    private static string? RequiredString(JsonObject o, string name, string where, List<string> p)
    {
        var s = OptionalString(o, name, where, p);
        if (s is null && !o.ContainsKey(name)) p.Add($"{where}: required");
        else if (s is { Length: 0 }) { p.Add($"{where}: must not be empty"); return null; }
        return s;
    }

    private static string? OptionalString(JsonObject o, string name, string where, List<string> p) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => Problem<string?>(p, $"{where}: must be a string", null),
    };

    private static int OptionalInt(JsonObject o, string name, string where, int fallback, List<string> p) => o[name] switch
    {
        null => fallback,
        JsonValue v when v.TryGetValue(out int i) => i,
        JsonValue v when v.TryGetValue(out double d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue => (int)d,
        _ => Problem(p, $"{where}: must be a whole number", fallback),
    };

    private static long OptionalLong(JsonObject o, string name, string where, long fallback, List<string> p) => o[name] switch
    {
        null => fallback,
        JsonValue v when v.TryGetValue(out long i) => i,
        JsonValue v when v.TryGetValue(out double d) && d == Math.Floor(d) && d is >= long.MinValue and <= long.MaxValue => (long)d,
        _ => Problem(p, $"{where}: must be a whole number", fallback),
    };

    private static double OptionalDouble(JsonObject o, string name, string where, double fallback, List<string> p) => o[name] switch
    {
        null => fallback,
        JsonValue v when v.TryGetValue(out double d) => d,
        _ => Problem(p, $"{where}: must be a number", fallback),
    };

    // YAML scalars carry no type; plain (unquoted) ones that read as numbers, booleans or null become those.
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", ToJson(kv.Value)))),
        YamlSequenceNode s => new JsonArray(s.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: var v } => v switch
        {
            null or "" or "~" or "null" => null,
            "true" or "True" => JsonValue.Create(true),
            "false" or "False" => JsonValue.Create(false),
            _ when long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            _ when double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
            _ => JsonValue.Create(v),
        },
        YamlScalarNode sc => JsonValue.Create(sc.Value ?? ""),
        _ => null,
    };
}
