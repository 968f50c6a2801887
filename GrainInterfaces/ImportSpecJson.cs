using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingest.GrainInterfaces;

/// <summary>How specs, statuses and reports are written as JSON: camelCase names, states by their names (<see cref="StateNames"/>), other enums as camelCase strings.</summary>
public static class ImportSpecJson
{
    /// <summary>The serializer options used for everything the product writes as JSON.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        // The first converter that takes a type wins: the states' ahead of the one for every enum.
        Converters = { new StateJsonConverter<ImportState>(), new StateJsonConverter<UnitState>(), new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        WriteIndented = false,
    };

    /// <summary>The spec as stored with its import.</summary>
    public static string Serialize(ImportSpec spec) => JsonSerializer.Serialize(spec, Options);

    /// <summary>A spec as stored with its import.</summary>
    public static ImportSpec Deserialize(string json) =>
        JsonSerializer.Deserialize<ImportSpec>(json, Options) ?? throw new JsonException("stored spec is null");
}
