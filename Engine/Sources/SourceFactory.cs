using Amazon.S3;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>Builds the <see cref="ISource"/> a spec names.</summary>
public static class SourceFactory
{
    private static readonly Lazy<IAmazonS3> SharedS3 = new(S3FileSource.CreateClientFromEnvironment);

    public static ISource Create(SourceSpec spec) => spec.Kind switch
    {
        SourceKind.Files => new FileSource(EnvironmentReference.Resolve(spec.Path!), spec.Pattern),
        SourceKind.S3 => new S3FileSource(SharedS3.Value, EnvironmentReference.Resolve(spec.Bucket!), EnvironmentReference.Resolve(spec.Prefix ?? ""), spec.Pattern),
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Kind, "unknown source kind"),
    };

    /// <summary>Whether a file holds newline-delimited JSON, by its name.</summary>
    public static bool IsNdjson(string key) =>
        key.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || key.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase);
}
