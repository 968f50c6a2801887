namespace Ingest.Bench; public static class Benchmark { public static Task<int> RunAsync(string[] a) => Task.FromResult(0); }
