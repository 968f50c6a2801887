using Ingest.Bench;

namespace Ingest.Tests.Harness;

/// <summary>A folder of input files for one test, removed afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("ingest-data-").FullName;

    /// <summary>Writes RAWG-like pages with game ids 1..files×perFile.</summary>
    public TempFolder WithPages(int files, int perFile)
    {
        RawgSample.Write(Path, files, perFile);
        return this;
    }

    public string Write(string name, string content)
    {
        var file = System.IO.Path.Combine(Path, name);
        File.WriteAllText(file, content);
        return file;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
