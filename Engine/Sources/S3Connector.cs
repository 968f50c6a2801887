using System.IO.Enumeration;
using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>
/// Objects in an S3 bucket under a prefix whose remaining key matches a glob; one unit per object.
/// Units are yielded page by page as the listing goes on. Endpoint, region and credentials come
/// from the standard AWS environment (<see cref="CreateClientFromEnvironment"/>).
/// </summary>
public sealed class S3Connector(IAmazonS3 s3) : ISourceConnector
{
    public SourceKind Kind => SourceKind.S3;

    public bool VersionTracksContent => true;

    /// <summary>
    /// A client configured from the standard AWS environment variables (<c>AWS_ENDPOINT_URL_S3</c>,
    /// <c>AWS_ACCESS_KEY_ID</c>, …); with an explicit endpoint, path-style addressing is used.
    /// </summary>
    public static IAmazonS3 CreateClientFromEnvironment()
    {
        var config = new AmazonS3Config();
        var endpoint = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3") ?? Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL");
        if (!string.IsNullOrEmpty(endpoint))
        {
            config.ServiceURL = endpoint;
            config.ForcePathStyle = true;
        }
        if (Environment.GetEnvironmentVariable("AWS_REGION") is { Length: > 0 } region)
            config.AuthenticationRegion = region;
        else if (config.RegionEndpoint is null && string.IsNullOrEmpty(config.ServiceURL))
            config.RegionEndpoint = Amazon.RegionEndpoint.USEast1;
        return new AmazonS3Client(config);
    }

    public string Describe(SourceSpec source) => $"s3://{Bucket(source)}/{Prefix(source)}";

    public async IAsyncEnumerable<UnitDescriptor> PlanAsync(SourceSpec source, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (bucket, prefix) = (Bucket(source), Prefix(source));
        // S3 lists keys in UTF-8 binary order, page by page: the same order every time.
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        ListObjectsV2Response response;
        do
        {
            try
            {
                response = await s3.ListObjectsV2Async(request, cancellationToken);
            }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket" || e.StatusCode == HttpStatusCode.NotFound)
            {
                throw new SourceDataException($"S3 bucket '{bucket}' does not exist (check source.bucket and AWS_ENDPOINT_URL_S3)", e, ErrorKind.Import);
            }
            foreach (var o in response.S3Objects ?? [])
                if (FileSystemName.MatchesSimpleExpression(source.Pattern, o.Key.AsSpan(prefix.Length)))
                    yield return new UnitDescriptor(o.Key, o.Size, o.ETag?.Trim('"'), ToOffset(o.LastModified));
            request.ContinuationToken = response.NextContinuationToken;
        } while (response.IsTruncated == true);
    }

    public async Task<OpenedObject> OpenAsync(SourceSpec source, UnitDescriptor unit, long offset, string? version, CancellationToken cancellationToken = default)
    {
        var bucket = Bucket(source);
        var end = unit.Range?.End;
        var request = new GetObjectRequest { BucketName = bucket, Key = unit.Key };
        // A range of the object ends where the next one starts: only its bytes are fetched.
        if (end is not null) request.ByteRange = new ByteRange(offset, end.Value - 1);
        else if (offset > 0) request.ByteRange = new ByteRange($"bytes={offset}-");
        if (version is not null) request.EtagToMatch = $"\"{version}\"";
        try
        {
            if (offset >= end) return await EmptyAsync(bucket, unit, cancellationToken);
            var response = await s3.GetObjectAsync(request, cancellationToken);
            // A ranged read's length is the range's: the object's size is the listed one.
            var size = request.ByteRange is not null ? unit.Size ?? offset + response.ContentLength : response.ContentLength;
            return new OpenedObject(response.ResponseStream, new SourceObject(unit.Key, size, response.ETag?.Trim('"'), ToOffset(response.LastModified)));
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new SourceDataException($"s3://{bucket}/{unit.Key}: object no longer exists", e);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            throw new SourceDataException($"s3://{bucket}/{unit.Key}: is no longer version {version}", e);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            return await EmptyAsync(bucket, unit, cancellationToken);
        }
    }

    // Resumed at or past the end: nothing is left to read, if the object is still the version read before.
    private async Task<OpenedObject> EmptyAsync(string bucket, UnitDescriptor unit, CancellationToken cancellationToken)
    {
        var head = await s3.GetObjectMetadataAsync(bucket, unit.Key, cancellationToken);
        return new OpenedObject(Stream.Null, new SourceObject(unit.Key, head.ContentLength, head.ETag?.Trim('"'), ToOffset(head.LastModified)));
    }

    private static string Bucket(SourceSpec source) => EnvironmentReference.Resolve(source.Bucket!);

    private static string Prefix(SourceSpec source) => EnvironmentReference.Resolve(source.Prefix ?? "");

    private static DateTimeOffset? ToOffset(DateTime? at) => at is { } t ? new DateTimeOffset(t.ToUniversalTime(), TimeSpan.Zero) : null;
}
