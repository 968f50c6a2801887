using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Ingest.Tests.Harness;

/// <summary>An s3rver (npm) process on 127.0.0.1 with its own temp folder, shared by the S3 tests.</summary>
public sealed class S3Server : IAsyncDisposable
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
    private static readonly Lazy<Task<S3Server>> SharedServer = new(StartAsync);
    private readonly System.Diagnostics.Process _process;
    private readonly string _dir;
    private IDisposable? _watchdog;

    private S3Server(System.Diagnostics.Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Endpoint = $"http://127.0.0.1:{port}";
    }

    public static Task<S3Server> SharedAsync() => SharedServer.Value;

    public string Endpoint { get; }

    /// <summary>The standard AWS variables a node needs to reach this server.</summary>
    public IDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["AWS_ENDPOINT_URL_S3"] = Endpoint,
        ["AWS_ACCESS_KEY_ID"] = AccessKey,
        ["AWS_SECRET_ACCESS_KEY"] = SecretKey,
        ["AWS_REGION"] = "us-east-1",
    };

    public AmazonS3Client CreateClient() => new(new BasicAWSCredentials(AccessKey, SecretKey),
        new AmazonS3Config { ServiceURL = Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    public async Task PutAsync(AmazonS3Client client, string bucket, string key, string content) =>
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = content, UseChunkEncoding = false });

    private static async Task<S3Server> StartAsync()
    {
        var package = Path.Combine(RepoPaths.Root, "tests", "s3rver");
        var script = Path.Combine(package, "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script)) await ExternalCommand.RunCheckedAsync("npm", ["ci", "--no-audit", "--no-fund", "--prefix", package]);
        var dir = Directory.CreateTempSubdirectory("ingest-s3-").FullName;
        var port = ExternalCommand.FreePort();
        var psi = new System.Diagnostics.ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        // s3rver ciphers its ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
        foreach (var a in new[] { "--openssl-legacy-provider", script, "-d", dir, "-a", "127.0.0.1", "-p", port.ToString(), "--silent" }) psi.ArgumentList.Add(a);
        var process = System.Diagnostics.Process.Start(psi)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new S3Server(process, dir, port) { _watchdog = Watchdog.Register($"kill {process.Id}; rm -rf '{dir}'") };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        using var client = server.CreateClient();
        await Poll.UntilAsync(async () =>
        {
            try { await client.ListBucketsAsync(); return true; }
            catch (Exception) when (!process.HasExited) { return false; }
        }, TimeSpan.FromSeconds(30), "s3rver to answer");
        return server;
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(true);
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        _watchdog?.Dispose();
        return ValueTask.CompletedTask;
    }
}
