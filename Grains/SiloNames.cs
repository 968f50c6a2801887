namespace Ingest.Grains;

/// <summary>
/// How a silo is named in our tables: <c>ip:port@generation</c>, the same text SQL builds from
/// Orleans' membership table (<c>address || ':' || port || '@' || generation</c>).
/// </summary>
public static class SiloNames
{
    public static string Of(SiloAddress silo) => $"{silo.Endpoint.Address}:{silo.Endpoint.Port}@{silo.Generation}";
}
