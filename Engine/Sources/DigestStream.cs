using System.Buffers;
using System.Security.Cryptography;

namespace Ingest.Engine.Sources;

/// <summary>
/// A file's bytes passed through as they are read, hashed (SHA-256) on the way: an incremental
/// import keeps the hash of what it loaded from a local file, whose modification time alone cannot
/// say whether a later version holds the same bytes.
/// </summary>
internal sealed class DigestStream(Stream inner) : ReadOnlyStream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _read;

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Add(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        Add(buffer.Span[..n]);
        return n;
    }

    private void Add(ReadOnlySpan<byte> bytes)
    {
        _hash.AppendData(bytes);
        _read += bytes.Length;
    }

    /// <summary>
    /// Reads on until <paramref name="length"/> bytes have passed in all (to the end when null) and
    /// returns the hash of every byte that passed. A reader may stop before the end (after a JSON
    /// document's records): the rest still belongs to the version.
    /// </summary>
    public async Task<byte[]> FinishAsync(long? length = null, CancellationToken cancellationToken = default)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (length is null || _read < length)
            {
                var want = length is { } l ? (int)Math.Min(scratch.Length, l - _read) : scratch.Length;
                if (await ReadAsync(scratch.AsMemory(0, want), cancellationToken) == 0) break;
            }
            return _hash.GetHashAndReset();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}
