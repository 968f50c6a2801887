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

    /// <summary>
    /// The spec with <c>"columns": "*"</c> filled with the source's columns, each with its own type;
    /// the spec itself when it names its columns or they were filled before.
    /// </summary>
    /// <exception cref="SourceDataException">The source cannot be described, or the key or the version column is not among its columns.</exception>
    public async Task<ImportSpec> ResolveAsync(ImportSpec spec, CancellationToken cancellationToken = default)
    {
        if (!spec.Target.ColumnsToResolve) return spec;
        if (Connector(spec.Source) is not IRecordConnector records) throw new InvalidOperationException("\"columns\": \"*\" without a SQL source");
        var columns = await records.ColumnsAsync(spec.Source, cancellationToken);
        var missing = spec.Target.Key.Where(k => columns.All(c => c.Name != k)).ToList();
        if (missing.Count > 0)
            throw new SourceDataException($"target.key: {string.Join(", ", missing.Select(k => $"'{k}'"))} is not a column of the source ({string.Join(", ", columns.Select(c => c.Name))})",
                kind: ErrorKind.Import);
        if (spec.Target.VersionColumn is { } version && columns.All(c => c.Name != version))
            throw new SourceDataException($"target.versionColumn: '{version}' is not a column of the source ({string.Join(", ", columns.Select(c => c.Name))})",
                kind: ErrorKind.Import);
        return spec with { Target = spec.Target with { Columns = columns } };
    }

    private ISourceConnector Connector(SourceSpec source) =>
        _connectors.TryGetValue(source.Kind, out var connector) ? connector : throw new InvalidOperationException($"no connector is registered for source kind '{source.Kind}'");
}
