using Ingest.Bench;

// Usage:
//   Ingest.Bench generate DIR FILES PER_FILE [SPEC_OUT TABLE]   writes RAWG-like pages (and a spec for them)
//   Ingest.Bench generate DIR FILES PER_FILE --nested          writes nested RAWG-like pages
//   Ingest.Bench parse DIR | nested-parse DIR                    reads and maps pages without a database (the engine's CPU alone)
//   Ingest.Bench run [--files N] [--per-file M]                  the ingest vs plain COPY benchmark (INGEST_DB)
//   Ingest.Bench nested [--games N] [--per-file M]               nested games into 11 tables vs plain COPY of the same rows (INGEST_DB)
//   Ingest.Bench real [--rows N] [--tiny-units U] [--runs R]     data with repeated keys, warm and cold, through the console (INGEST_DB)
//   Ingest.Bench rabbitmq [--messages N] [--silos K]             queued messages into a keyed table by the silos vs a minimal consumer (INGEST_DB, INGEST_AMQP_URI)
//   Ingest.Bench csv [--rows N] [--silos K] [--runs R] [--split-mib M] [--whole] [--kill]   one large CSV file split across the silos vs psql \copy (format csv) (INGEST_DB)
//   Ingest.Bench sql [--rows N] [--silos K] [--runs R] [--ranges Q] [--parallelism P] [--maria-rows M] [--no-mariadb]   a table read in key ranges vs psql | psql (and mariadb --batch | psql) (INGEST_DB)
//   Ingest.Bench http [--pages N] [--limit R]                    pages of a local API vs a plain HttpClient loop, and a rate limit across 3 silos (INGEST_DB)
switch (args.FirstOrDefault())
{
    case "generate" when args.Length >= 4:
        if (args.Contains("--nested")) RawgSample.WriteNested(args[1], int.Parse(args[2]), int.Parse(args[3]));
        else
        {
            RawgSample.Write(args[1], int.Parse(args[2]), int.Parse(args[3]));
            if (args.Length >= 6) File.WriteAllText(args[4], RawgSample.Spec("rawg-games", Path.GetFullPath(args[1]), args[5]));
        }
        Console.Error.WriteLine($"wrote {args[2]} files of {args[3]} games to {args[1]}");
        return 0;
    case "parse" when args.Length >= 2:
        return await Benchmark.ParseOnlyAsync(args[1]);
    case "nested-parse" when args.Length >= 2:
        return await Benchmark.NestedParseOnlyAsync(args[1]);
    case "run":
        return await Benchmark.RunAsync(args[1..]);
    case "nested":
        return await NestedBenchmark.RunAsync(args[1..]);
    case "real":
        return await RealDataBenchmark.RunAsync(args[1..]);
    case "csv":
        return await CsvBenchmark.RunAsync(args[1..]);
    case "rabbitmq":
        return await RabbitMqBenchmark.RunAsync(args[1..]);
    case "sql":
        return await SqlBenchmark.RunAsync(args[1..]);
    case "http":
        return await HttpBenchmark.RunAsync(args[1..]);
    default:
        Console.Error.WriteLine("usage: Ingest.Bench generate DIR FILES PER_FILE [SPEC_OUT TABLE] | run [--files N] [--per-file M] [--silos K] | nested [--games N] [--per-file M] [--silos K] | real [--rows N] [--tiny-units U] [--runs R] | csv [--rows N] [--silos K] [--runs R] [--split-mib M] [--whole] [--kill] | http [--pages N] [--limit R] | rabbitmq [--messages N] [--silos K] | sql [--rows N] [--silos K] [--runs R] [--ranges Q] [--parallelism P] [--maria-rows M] [--no-mariadb]");
        return 64;
}
