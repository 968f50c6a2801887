using Xunit;

namespace Ingest.Tests.Harness;

/// <summary>
/// Tests that assert timing as a server in the test process sees it (a rate limit's requests per
/// window): they run alone, after the others, so that no other test's load stalls that server
/// between a request's arrival and its time stamp.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "alone";
}
