using Ingest.Engine;
using Ingest.Engine.Sources;
using Npgsql;

namespace Ingest.Tests.Harness;

/// <summary>The built-in source connectors and formats, and loads of whole units by key, for tests that drive the engine without a silo.</summary>
public static class TestSources
{
    public static SourceRegistry Registry { get; } = SourceServiceCollectionExtensions.CreateDefault();

    /// <summary>Loads the unit of <paramref name="key"/> whole, on the caller's connection and transaction.</summary>
    public static async Task<UnitLoadResult> LoadAsync(this UnitLoader loader, NpgsqlConnection connection, long importId, string key, CancellationToken cancellationToken = default)
    {
        await using var reading = await loader.Source.OpenAsync(new UnitDescriptor(key), null, cancellationToken);
        return await loader.LoadAsync(connection, importId, reading, long.MaxValue, cancellationToken);
    }

    /// <summary>Loads a batch of units by key, on the caller's connection and transaction.</summary>
    public static Task<IReadOnlyList<UnitLoadResult>> LoadBatchAsync(this UnitLoader loader, NpgsqlConnection connection, long importId, string[] keys, CancellationToken cancellationToken = default) =>
        loader.LoadBatchAsync(connection, importId, [.. keys.Select(k => new UnitDescriptor(k))], cancellationToken: cancellationToken);
}
