using System.IO.Enumeration;
using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Ingest.Engine.Sources;

/// <summary>
/// Objects in an S3 bucket under a prefix whose remaining key matches a glob. Endpoint, region and
/// credentials come from the standard AWS environment (<c>AWS_ENDPOINT_URL_S3</c>,
/// <c>AWS_ACCESS_KEY_ID</c>, …); with an explicit endpoint, path-style addressing is used.
/// </summary>
public sealed class S3FileSource(IAmazonS3 s3, string bucket, string prefix, string pattern) : ISource
{
    /// <summary>A client configured from the standard AWS environment variables.</summary>
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

    public async Task<IReadOnlyList<SourceObject>> ListAsync(CancellationToken cancellationToken = default)
    {
        var objects = new List<SourceObject>();
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        try
        {
            ListObjectsV2Response response;
            do
            {
                response = await s3.ListObjectsV2Async(request, cancellationToken);
                foreach (var o in response.S3Objects ?? [])
                    if (FileSystemName.MatchesSimpleExpression(pattern, o.Key.AsSpan(prefix.Length)))
                        objects.Add(new SourceObject(o.Key, o.Size ?? 0));
                request.ContinuationToken = response.NextContinuationToken;
            } while (response.IsTruncated == true);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket" || e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new SourceDataException($"S3 bucket '{bucket}' does not exist (check source.bucket and AWS_ENDPOINT_URL_S3)", e);
        }
        if (objects.Count == 0)
            throw new SourceDataException($"no objects match '{pattern}' under s3://{bucket}/{prefix}");
        objects.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return objects;
    }

    public async Task<OpenedObject> OpenAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await s3.GetObjectAsync(bucket, key, cancellationToken);
            var modified = response.LastModified is { } at ? new DateTimeOffset(at.ToUniversalTime(), TimeSpan.Zero) : (DateTimeOffset?)null;
            return new OpenedObject(response.ResponseStream, new SourceObject(key, response.ContentLength, response.ETag?.Trim('"'), modified));
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new SourceDataException($"s3://{bucket}/{key}: object no longer exists", e);
        }
    }
}
