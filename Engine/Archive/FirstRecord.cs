using Ingest.Engine.Mapping;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Archive;

/// <summary>
/// Values of a file's first record for an archive key (<c>{record:PATH}</c>), read as the import
/// reads its records: a JSON path as a column's <c>path</c> (dotted, array indexes), a CSV field by
/// its header name. Values come as text (a number as written); a missing or null value is null.
/// </summary>
public static class FirstRecord
{
    /// <summary>The values at <paramref name="paths"/> of the first record of <paramref name="unit"/> that can be read (a CSV row the load rejected as unreadable is passed over); all null when the file has none.</summary>
    public static async Task<IReadOnlyDictionary<string, string?>> ValuesAsync(SourceRegistry sources, ImportSpec spec, UnitDescriptor unit, IReadOnlyList<string> paths,
        CancellationToken cancellationToken = default)
    {
        var values = paths.ToDictionary(p => p, _ => (string?)null, StringComparer.Ordinal);
        if (paths.Count == 0) return values;
        // A target of one text column per path: a CSV source then reads exactly those fields.
        var columns = paths.Select((path, i) => new ColumnSpec($"record_{i}", path, ColumnType.Text)).ToList();
        var source = sources.For(spec with { Target = new TargetSpec(spec.Target.Schema, spec.Target.Table, [], false, columns) });
        var mapper = new RecordMapper(source.Target.Columns, []);
        var row = mapper.CreateRow();
        await using var reading = await source.OpenAsync(unit, null, cancellationToken);
        while (await reading.MoveNextAsync(cancellationToken))
        {
            if (reading.Unreadable is not null) continue;
            mapper.TryMap(reading.Current.Span, row, out _); // a value that is not text (not UTF-8) stays null
            for (var i = 0; i < paths.Count; i++) values[paths[i]] = row[i] as string;
            break;
        }
        return values;
    }
}
