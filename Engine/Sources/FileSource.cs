using System.IO.Enumeration;

namespace Ingest.Engine.Sources;

/// <summary>Files directly inside a local folder whose names match a glob.</summary>
public sealed class FileSource(string folder, string pattern) : ISource
{
    public Task<IReadOnlyList<SourceObject>> ListAsync(CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(folder))
            throw new SourceDataException($"source folder '{folder}' does not exist (check source.path, as seen from the nodes)");
        IReadOnlyList<SourceObject> files = new DirectoryInfo(folder)
            .EnumerateFiles()
            .Where(f => FileSystemName.MatchesSimpleExpression(pattern, f.Name))
            .OrderBy(f => f.Name, StringComparer.Ordinal)
            .Select(f => new SourceObject(f.Name, f.Length))
            .ToList();
        if (files.Count == 0)
            throw new SourceDataException($"no files match '{pattern}' in folder '{folder}'");
        return Task.FromResult(files);
    }

    public Task<OpenedObject> OpenAsync(string key, CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(folder, key);
        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var modified = new DateTimeOffset(File.GetLastWriteTimeUtc(stream.SafeFileHandle), TimeSpan.Zero);
            // Files have no ETag: size and modification time tell versions apart, as web servers do.
            var etag = $"{stream.Length:x}-{modified.UtcTicks:x}";
            return Task.FromResult(new OpenedObject(stream, new SourceObject(key, stream.Length, etag, modified)));
        }
        catch (FileNotFoundException e)
        {
            throw new SourceDataException($"{path}: file no longer exists", e);
        }
    }
}
