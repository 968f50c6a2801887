using System.Runtime.CompilerServices;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// A RabbitMQ queue as a continuous import: planning checks (or declares) the queue and makes one
/// unit per consumer (<c>source.consumers</c>, else the import's parallelism), each of which runs
/// until the import stops. A consumer's unit is never opened as content: the silo consumes it
/// (<see cref="QueueConsumer"/>).
/// </summary>
public sealed class RabbitMqConnector : ISourceConnector
{
    public SourceKind Kind => SourceKind.RabbitMq;

    public string Describe(SourceSpec source) => $"queue '{Spec(source).Queue}'";

    public async IAsyncEnumerable<UnitDescriptor> PlanAsync(SourceSpec source, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var spec = Spec(source);
        await using (var connection = await RabbitMqConnection.OpenAsync(spec.Uri, "ingest planner", cancellationToken))
            await QueueDeclaration.EnsureAsync(connection, spec, cancellationToken);
        for (var i = 1; i <= (spec.Consumers ?? 1); i++) yield return new UnitDescriptor(ConsumerKey(spec, i));
    }

    /// <summary>The key of the <paramref name="n"/>th consumer's unit.</summary>
    public static string ConsumerKey(RabbitMqSpec spec, int n) => $"{spec.Queue} consumer {n}";

    public Task<OpenedObject> OpenAsync(SourceSpec source, UnitDescriptor unit, long offset, string? version, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{unit.Key}: a queue's consumer is not read as content; the silo consumes the queue");

    private static RabbitMqSpec Spec(SourceSpec source) => source.RabbitMq ?? throw new InvalidOperationException("a rabbitmq source without its queue settings");
}
