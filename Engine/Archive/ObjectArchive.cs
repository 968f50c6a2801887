using System.Net;
using Amazon.S3;
using Amazon.S3.Model;

namespace Ingest.Engine.Archive;

/// <summary>
/// Puts raw files into an S3 bucket without ever overwriting an object: what is at the key is
/// compared first (size, and SHA-256 from the metadata this archive puts, or read back and hashed
/// when it has none), and the put itself asks the store to refuse a key that holds an object
/// (<c>If-None-Match: *</c>, where the store supports it). Uses the S3 client of the S3 sources.
/// </summary>
public sealed class ObjectArchive(IAmazonS3 s3)
{
    private const string ShaMetadata = "x-amz-meta-sha256";

    /// <summary>What is at a key, next to a file's content.</summary>
    public enum Found
    {
        /// <summary>No object.</summary>
        Nothing,

        /// <summary>An object of the same size and SHA-256.</summary>
        Same,

        /// <summary>Another object.</summary>
        Other,
    }

    /// <summary>What <paramref name="key"/> holds next to <paramref name="file"/>, and for another object, a description of it.</summary>
    public async Task<(Found Found, string? Other)> CompareAsync(string bucket, string key, HashedFile file, CancellationToken cancellationToken = default)
    {
        GetObjectMetadataResponse head;
        try
        {
            head = await s3.GetObjectMetadataAsync(bucket, key, cancellationToken);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return (Found.Nothing, null);
        }
        var sha = head.Metadata[ShaMetadata];
        if (head.ContentLength == file.Size && string.IsNullOrEmpty(sha))
        {
            // Put there by someone else, of the same size: only its bytes can tell.
            using var get = await s3.GetObjectAsync(bucket, key, cancellationToken);
            sha = await HashedFile.HashAsync(get.ResponseStream, cancellationToken);
        }
        if (head.ContentLength == file.Size && string.Equals(sha, file.Sha256, StringComparison.OrdinalIgnoreCase)) return (Found.Same, null);
        var what = string.IsNullOrEmpty(sha) ? $"{head.ContentLength} bytes" : $"{head.ContentLength} bytes, sha256 {sha}";
        return (Found.Other, $"s3://{bucket}/{key} already holds another object ({what}; this file: {file.Size} bytes, sha256 {file.Sha256}): it is not overwritten");
    }

    /// <summary>
    /// Puts the file at the key, with its SHA-256 in the object's metadata. False when the store
    /// refused because an object appeared at the key since it was compared.
    /// </summary>
    public async Task<bool> PutAsync(string bucket, string key, HashedFile file, string contentType, CancellationToken cancellationToken = default)
    {
        // Signed whole rather than in aws-chunked encoding, which not every S3-compatible store reads.
        var request = new PutObjectRequest
        {
            BucketName = bucket, Key = key, FilePath = file.Path, ContentType = contentType, IfNoneMatch = "*", UseChunkEncoding = false,
        };
        request.Metadata.Add(ShaMetadata, file.Sha256);
        try
        {
            await s3.PutObjectAsync(request, cancellationToken);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)
        {
            return false;
        }
    }

    /// <summary>The content type of a file by its extension.</summary>
    public static string ContentTypeOf(string file) => Path.GetExtension(file).ToLowerInvariant() switch
    {
        ".json" => "application/json",
        ".ndjson" or ".jsonl" => "application/x-ndjson",
        ".csv" => "text/csv",
        ".tsv" => "text/tab-separated-values",
        ".gz" => "application/gzip",
        ".zst" => "application/zstd",
        _ => "application/octet-stream",
    };
}
