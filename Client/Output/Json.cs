using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Client.Output;

public static class Json
{
    public static void Write<T>(TextWriter writer, T value) =>
        writer.WriteLine(JsonSerializer.Serialize(value, ImportSpecJson.Options));
}
