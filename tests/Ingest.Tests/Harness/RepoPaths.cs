namespace Ingest.Tests.Harness;

/// <summary>Where the repository and the built programs are, seen from the test assembly.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    // The tests' own output is .../tests/Ingest.Tests/bin/CONFIGURATION/TFM/: the programs are run from
    // their own output folders, built with the same configuration, each with its own runtime config
    // (the silo's includes ASP.NET Core for the dashboard, the client's does not).
    private static readonly DirectoryInfo TestBin = new(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));

    public static string SiloDll => Program("Silo", "Ingest.Silo.dll");

    public static string ClientDll => Program("Client", "Ingest.Client.dll");

    private static string Program(string project, string dll) =>
        Path.Combine(Root, project, "bin", TestBin.Parent!.Name, TestBin.Name, dll);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OrleansIngest.sln"))) return dir.FullName;
        throw new InvalidOperationException("OrleansIngest.sln not found above " + AppContext.BaseDirectory);
    }
}
