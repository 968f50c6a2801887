using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingest.GrainInterfaces;

/// <summary>
/// Writes and reads a state as its name (<see cref="StateNames"/>), also as a dictionary key
/// (<see cref="ClusterStatus.ImportsByState"/>): the camelCase enum converter would write
/// <c>completedWithErrors</c>, where the catalog and the console say <c>completed_with_errors</c>.
/// </summary>
internal sealed class StateJsonConverter<TState> : JsonConverter<TState> where TState : struct, Enum
{
    public override TState Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String ? Parse(reader.GetString()!) : throw new JsonException($"a {typeof(TState).Name} is a string");

    public override void Write(Utf8JsonWriter writer, TState value, JsonSerializerOptions options) =>
        writer.WriteStringValue(StateNames.Names<TState>.Of(value));

    public override TState ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Parse(reader.GetString()!);

    public override void WriteAsPropertyName(Utf8JsonWriter writer, TState value, JsonSerializerOptions options) =>
        writer.WritePropertyName(StateNames.Names<TState>.Of(value));

    private static TState Parse(string name) => StateNames.Names<TState>.TryParse(name, out var state) ? state
        : throw new JsonException($"'{name}' is not a {typeof(TState).Name}");
}
