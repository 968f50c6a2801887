using Ingest.Engine.Formats;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>The source connectors by kind and the record formats by name, as registered.</summary>
public sealed class SourceRegistry(IEnumerable<ISourceConnector> connectors, IEnumerable<IRecordFormat> formats)
{
    private readonly Dictionary<SourceKind, ISourceConnector> _connectors = connectors.ToDictionary(c => c.Kind);
    private readonly Dictionary<string, IRecordFormat> _formats = formats.ToDictionary(f => f.Name, StringComparer.Ordinal);

    /// <summary>The source of a spec, to plan its units: its connector, and the format of each of its units.</summary>
    public ImportSource For(SourceSpec source) => new(Connector(source), _formats, source);

    /// <summary>The source of an import, to read its units for its target (<see cref="ImportSource.Target"/>).</summary>
    public ImportSource For(ImportSpec spec) => new(Connector(spec.Source), _formats, spec.Source, spec.Target);

    private ISourceConnector Connector(SourceSpec source) =>
        _connectors.TryGetValue(source.Kind, out var connector) ? connector : throw new InvalidOperationException($"no connector is registered for source kind '{source.Kind}'");
}
