using System.Text.Json;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Mapping;

/// <summary>A unit's metadata, as the JSON values that <c>meta</c> columns convert from.</summary>
public sealed class UnitFacts(long importId, SourceObject source)
{
    private readonly byte[] _file = JsonSerializer.SerializeToUtf8Bytes(source.Key);
    private readonly byte[] _etag = source.ETag is null ? [] : JsonSerializer.SerializeToUtf8Bytes(source.ETag);
    private readonly byte[] _modified = source.Modified is null ? [] : JsonSerializer.SerializeToUtf8Bytes(source.Modified.Value.ToString("O"));
    private readonly byte[] _size = JsonSerializer.SerializeToUtf8Bytes(source.Size);
    private readonly byte[] _importId = JsonSerializer.SerializeToUtf8Bytes(importId);

    /// <summary>The value's JSON; empty when the source does not know it (NULL).</summary>
    public ReadOnlySpan<byte> Json(UnitMeta meta) => meta switch
    {
        UnitMeta.File => _file,
        UnitMeta.Etag => _etag,
        UnitMeta.Modified => _modified,
        UnitMeta.Size => _size,
        UnitMeta.ImportId => _importId,
        _ => [],
    };
}
