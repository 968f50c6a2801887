using System.IO.Compression;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>
/// How a unit's bytes are compressed: named by <c>source.compression</c>, else by the key's
/// extension (<c>.gz</c>, <c>.zst</c>). Content is decompressed as it streams, for any format.
/// </summary>
public enum ContentCompression
{
    None,
    Gzip,
    Zstd,
}

public static class ContentCompressions
{
    /// <summary>The compression of <paramref name="key"/> under <paramref name="source"/>.</summary>
    public static ContentCompression Of(SourceSpec source, string key) => source.Compression switch
    {
        "none" => ContentCompression.None,
        "gzip" => ContentCompression.Gzip,
        "zstd" => ContentCompression.Zstd,
        _ when key.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) => ContentCompression.Gzip,
        _ when key.EndsWith(".zst", StringComparison.OrdinalIgnoreCase) => ContentCompression.Zstd,
        _ => ContentCompression.None,
    };

    /// <summary>The key without its compression's extension (<c>a.ndjson.gz</c> → <c>a.ndjson</c>).</summary>
    public static string StripExtension(string key) =>
        key.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? key[..^3]
        : key.EndsWith(".zst", StringComparison.OrdinalIgnoreCase) ? key[..^4]
        : key;

    /// <summary>A stream of <paramref name="content"/> decompressed; it owns <paramref name="content"/>.</summary>
    public static Stream Decompress(this ContentCompression compression, Stream content) => compression switch
    {
        ContentCompression.Gzip => new GZipStream(content, CompressionMode.Decompress, leaveOpen: false),
        ContentCompression.Zstd => new ZstdSharp.DecompressionStream(content, leaveOpen: false),
        _ => content,
    };

    /// <summary>Whether <paramref name="e"/> says compressed content is corrupt.</summary>
    public static bool IsCorruption(Exception e) => e is InvalidDataException or ZstdSharp.ZstdException;
}
