using System.IO.Enumeration;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>Files directly inside a local folder whose names match a glob; one unit per file.</summary>
public sealed class FolderConnector : ISourceConnector
{
    public SourceKind Kind => SourceKind.Files;

    public bool VersionTracksContent => false;

    public string Describe(SourceSpec source) => $"folder '{Folder(source)}'";

    public async IAsyncEnumerable<UnitDescriptor> PlanAsync(SourceSpec source, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var folder = Folder(source);
        if (!Directory.Exists(folder))
            throw new SourceDataException($"source folder '{folder}' does not exist (check source.path, as seen from the nodes)", kind: ErrorKind.Import);
        // Names only, sorted, so that planning is repeatable: listing a folder is cheap next to storing its units.
        var files = new DirectoryInfo(folder)
            .EnumerateFiles()
            .Where(f => FileSystemName.MatchesSimpleExpression(source.Pattern, f.Name))
            .OrderBy(f => f.Name, StringComparer.Ordinal);
        foreach (var file in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var modified = new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero);
            yield return new UnitDescriptor(file.Name, file.Length, ETagOf(file.Length, modified), modified);
        }
        await Task.CompletedTask;
    }

    public Task<OpenedObject> OpenAsync(SourceSpec source, UnitDescriptor unit, long offset, string? version, CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(Folder(source), unit.Key);
        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var modified = new DateTimeOffset(File.GetLastWriteTimeUtc(stream.SafeFileHandle), TimeSpan.Zero);
            var info = new SourceObject(unit.Key, stream.Length, ETagOf(stream.Length, modified), modified);
            stream.Position = offset;
            return Task.FromResult(new OpenedObject(stream, info));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SourceDataException($"{path}: file no longer exists", e);
        }
    }

    private static string Folder(SourceSpec source) => EnvironmentReference.Resolve(source.Path!);

    // Files have no ETag: size and modification time tell versions apart, as web servers do.
    private static string ETagOf(long size, DateTimeOffset modified) => $"{size:x}-{modified.UtcTicks:x}";
}
