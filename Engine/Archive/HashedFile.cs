using System.Security.Cryptography;

namespace Ingest.Engine.Archive;

/// <summary>
/// A file's bytes kept aside to archive: a temporary copy, with its size and SHA-256, so that what
/// is compared and uploaded is exactly what was hashed (the source may change meanwhile). Disposing
/// deletes the copy.
/// </summary>
public sealed class HashedFile : IAsyncDisposable
{
    private HashedFile(string path, long size, string sha256) => (Path, Size, Sha256) = (path, size, sha256);

    /// <summary>The temporary copy.</summary>
    public string Path { get; }

    public long Size { get; }

    /// <summary>The SHA-256 of the bytes, lowercase hex.</summary>
    public string Sha256 { get; }

    private const string Prefix = "ingest-archive-";

    /// <summary>Copies <paramref name="content"/> to a temporary file, hashing it on the way (memory stays bounded).</summary>
    public static async Task<HashedFile> CopyAsync(Stream content, CancellationToken cancellationToken = default)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{Prefix}{Guid.NewGuid():N}.tmp");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                    size += n;
                }
            }
            return new HashedFile(path, size, Convert.ToHexStringLower(hash.GetHashAndReset()));
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    /// <summary>The SHA-256 of <paramref name="content"/>, read to its end (lowercase hex).</summary>
    public static async Task<string> HashAsync(Stream content, CancellationToken cancellationToken = default) =>
        Convert.ToHexStringLower(await SHA256.HashDataAsync(content, cancellationToken));

    /// <summary>
    /// Deletes the copies in the temporary folder that were last written longer than
    /// <paramref name="age"/> ago: left by a process that was killed while it archived.
    /// </summary>
    public static void DeleteAbandoned(TimeSpan age)
    {
        foreach (var file in new DirectoryInfo(System.IO.Path.GetTempPath()).EnumerateFiles($"{Prefix}*.tmp"))
        {
            try
            {
                if (file.LastWriteTimeUtc < DateTime.UtcNow - age) file.Delete();
            }
            catch (IOException) { } // gone, or another process's
            catch (UnauthorizedAccessException) { }
        }
    }

    public ValueTask DisposeAsync()
    {
        File.Delete(Path);
        return ValueTask.CompletedTask;
    }
}
