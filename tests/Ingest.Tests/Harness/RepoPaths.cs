namespace Ingest.Tests.Harness;

/// <summary>Where the repository and the built programs are, seen from the test assembly.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The test output folder: the silo and the client are built next to the tests.</summary>
    public static string Bin { get; } = AppContext.BaseDirectory;

    public static string SiloDll => Path.Combine(Bin, "Ingest.Silo.dll");

    public static string ClientDll => Path.Combine(Bin, "Ingest.Client.dll");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OrleansIngest.sln"))) return dir.FullName;
        throw new InvalidOperationException("OrleansIngest.sln not found above " + AppContext.BaseDirectory);
    }
}
