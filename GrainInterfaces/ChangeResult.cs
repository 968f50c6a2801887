namespace Ingest.GrainInterfaces;

/// <summary>The outcome of a pause, resume or cancel.</summary>
/// <param name="Applied">Whether the change applied.</param>
/// <param name="State">The import's state afterwards; null when there is no such import.</param>
/// <param name="Why">Why it did not apply, when its state does not say (another import of its name runs).</param>
[GenerateSerializer, Immutable, Alias("ingest.ChangeResult")]
public sealed record ChangeResult([property: Id(0)] bool Applied, [property: Id(1)] ImportState? State, [property: Id(2)] string? Why = null);
