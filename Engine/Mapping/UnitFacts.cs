using System.Text.Json;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Mapping;

/// <summary>
/// A unit's metadata, as the JSON values that <c>meta</c> columns convert from; for a batch of
/// messages, also the message of the record being mapped (<paramref name="messages"/>).
/// </summary>
public sealed class UnitFacts(long importId, SourceObject source, IMessageFacts? messages = null)
{
    private readonly byte[] _file = JsonSerializer.SerializeToUtf8Bytes(source.Key);
    private readonly byte[] _etag = source.ETag is null ? [] : JsonSerializer.SerializeToUtf8Bytes(source.ETag);
    private readonly byte[] _modified = source.Modified is null ? [] : JsonSerializer.SerializeToUtf8Bytes(source.Modified.Value.ToString("O"));
    private readonly byte[] _size = JsonSerializer.SerializeToUtf8Bytes(source.Size);
    private readonly byte[] _importId = JsonSerializer.SerializeToUtf8Bytes(importId);
    private readonly byte[] _page = source.Page is null ? [] : JsonSerializer.SerializeToUtf8Bytes(source.Page.Value);
    private readonly byte[] _status = source.Status is null ? [] : JsonSerializer.SerializeToUtf8Bytes(source.Status.Value);
    private readonly byte[] _fetchedAt = source.FetchedAt is null ? [] : JsonSerializer.SerializeToUtf8Bytes(source.FetchedAt.Value.ToString("O"));

    /// <summary>The value's JSON; empty when the source does not know it (NULL).</summary>
    public ReadOnlySpan<byte> Json(UnitMeta meta, string? header = null) => meta switch
    {
        UnitMeta.File => _file,
        UnitMeta.Etag => _etag,
        UnitMeta.Modified => _modified,
        UnitMeta.Size => _size,
        UnitMeta.ImportId => _importId,
        UnitMeta.MessageId or UnitMeta.RoutingKey or UnitMeta.Exchange or UnitMeta.Timestamp or UnitMeta.Redelivered or UnitMeta.Header
            => messages is null ? [] : messages.Json(meta, header),
        UnitMeta.Url => _file, // a page's key is its URL, masked
        UnitMeta.Page => _page,
        UnitMeta.FetchedAt => _fetchedAt,
        UnitMeta.Status => _status,
        _ => [],
    };
}
