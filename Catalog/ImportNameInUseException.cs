using Ingest.GrainInterfaces;

namespace Ingest.Catalog;

/// <summary>
/// A submit refused because an import of the same name has not ended (pending, running or
/// paused); nothing was stored. Submitting with <c>concurrent</c> allows it.
/// </summary>
public sealed class ImportNameInUseException(string name, long importId, ImportState state)
    : Exception($"import {importId} named '{name}' is {state.Name()}: one import per name at a time")
{
    public string Name { get; } = name;

    /// <summary>The unfinished import of that name (the oldest, if several).</summary>
    public long ImportId { get; } = importId;

    public ImportState State { get; } = state;
}
