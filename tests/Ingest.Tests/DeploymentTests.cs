using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>What deploys the product where no Docker engine runs here: the compose file must still be valid.</summary>
public class DeploymentTests
{
    [Fact]
    public async Task The_compose_file_is_valid_and_has_postgres_jaeger_minio_silos_and_a_client()
    {
        var compose = Path.Combine(RepoPaths.Root, "docker-compose.yml");

        var (check, checkOutput) = await ExternalCommand.RunAsync("docker-compose", ["-f", compose, "config", "-q"]);
        var (list, services) = await ExternalCommand.RunAsync("docker-compose", ["-f", compose, "config", "--services"]);

        Assert.True(check == 0, checkOutput);
        Assert.Equal(0, list);
        Assert.Equal(["client", "jaeger", "minio", "postgres", "silo"], services.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order());
    }
}
