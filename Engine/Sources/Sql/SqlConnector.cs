using System.Runtime.CompilerServices;
using Ingest.Engine.Formats;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// A SQL database as a source (<c>kind: "sql"</c>; PostgreSQL, MySQL, MariaDB). Planning connects
/// with the source's own credentials (from this node's environment), checks that the table or query
/// runs with the columns the target maps, and, with <c>splitBy</c>, reads the key's minimum and
/// maximum (or its quantiles) and plans one unit per key range; without it, one unit. Any error is
/// the engine's message, credentials masked. Each unit reads its rows in a read-only transaction
/// of its own: its own snapshot.
/// <para>
/// An incremental import (<c>source.incremental</c>: a cursor and a tie-break column) reads only the
/// rows of its window (<see cref="SqlWindow"/>): planning fixes it once (<see cref="SinceAsync"/>), and
/// the key's statistics, its quantiles and every unit read within it.
/// </para>
/// </summary>
public sealed class SqlConnector : IRecordConnector
{
    public SourceKind Kind => SourceKind.Sql;

    public string Describe(SourceSpec source)
    {
        var sql = Sql(source);
        return $"{SqlSession.Describe(sql)} {(sql.Table is { } table ? "table " + table : "query")}";
    }

    public IAsyncEnumerable<UnitDescriptor> PlanAsync(SourceSpec source, CancellationToken cancellationToken = default) => PlanAsync(source, null, cancellationToken);

    public async IAsyncEnumerable<UnitDescriptor> PlanAsync(SourceSpec source, TargetSpec? target, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var unit in await PlanUnitsAsync(Sql(source), target, SqlIncrement.Of(source), cancellationToken)) yield return unit;
    }

    /// <summary>
    /// The window an incremental import reads (<c>{"after": [cursor, tieBreak] | null, "before": … | null}</c>):
    /// above the pair the store holds (<paramref name="committed"/>; none with <paramref name="full"/>),
    /// and, for a date or time cursor, below the source's clock less the lag, read now.
    /// </summary>
    /// <exception cref="SourceDataException">A column is missing or of a kind a window cannot hold, or a lag is given for a numeric cursor.</exception>
    public async Task<System.Text.Json.JsonElement> SinceAsync(SourceSpec source, System.Text.Json.JsonElement? committed, bool full, string name, CancellationToken cancellationToken = default)
    {
        if (SqlIncrement.Of(source) is not { } increment) return CursorSince.From(source.Cursor!, committed, full, name);
        var spec = Sql(source);
        var connection = SourceConnection.Resolve(spec.Connection);
        try
        {
            await using var session = await SqlSession.OpenAsync(spec, connection, cancellationToken);
            var (kind, _) = await session.CursorKindsAsync(increment, cancellationToken);
            var after = full || committed is not { ValueKind: not System.Text.Json.JsonValueKind.Null } c ? (System.Text.Json.JsonElement?)null : c;
            if (kind is KeyKind.Integer or KeyKind.Numeric)
            {
                if (increment.Cursor.LagSeconds > 0)
                    throw new SourceDataException($"source.incremental.lagSeconds: '{increment.Cursor.Path}' is a number, not a time, so there is no clock to hold it back by; " +
                                                  "set lagSeconds to 0, or use a date or time cursor", kind: ErrorKind.Import);
                return SqlWindow.Since(after, null);
            }
            object? now = null;
            await foreach (var row in session.QueryAsync(session.Sql.Clock(kind, increment.Cursor.LagSeconds), cancellationToken)) now = row[0];
            return SqlWindow.Since(after, KeyValues.Canonical(kind, session.KeyValue(now!)));
        }
        catch (Exception e) when (e is not (SourceDataException or OperationCanceledException))
        {
            throw SqlSession.Failure(spec, connection, e);
        }
    }

    private static async Task<IReadOnlyList<UnitDescriptor>> PlanUnitsAsync(SqlSourceSpec spec, TargetSpec? target, SqlIncrement? increment, CancellationToken cancellationToken)
    {
        var connection = SourceConnection.Resolve(spec.Connection);
        var name = spec.Table ?? "query";
        try
        {
            await using var session = await SqlSession.OpenAsync(spec, connection, cancellationToken);
            var described = await session.DescribeAsync(SourceColumns.Of(spec, target, increment?.Cursor), cancellationToken);
            await session.NarrowAsync(increment, cancellationToken);
            if (spec.SplitBy is not { } key) return [new UnitDescriptor(name)];

            var column = described.FirstOrDefault(c => c.Name == key)
                         ?? throw new SourceDataException($"source.splitBy: '{key}' is not a column of {name} ({string.Join(", ", described.Select(c => c.Name))})", kind: ErrorKind.Import);
            if (column.Key is not { } kind)
                throw new SourceDataException($"source.splitBy: '{key}' is {column.Type}; a key range needs an integer, numeric, date or timestamp column", kind: ErrorKind.Import);
            // Counting the rows reads them all: only rowsPerRange needs it (an index answers the rest).
            var counted = spec.Ranges is null;
            object?[]? stats = null;
            await foreach (var row in session.QueryAsync(session.Sql.KeyStats(key, counted), cancellationToken)) stats = row;
            if (Convert.ToInt64(stats![2]) > 0)
                throw new SourceDataException($"source.splitBy: '{key}' is NULL in {(counted ? $"{stats[2]} of the {stats[3]}" : "some of the")} rows of {name}, which no key range holds; split by a column without NULLs (a key)", kind: ErrorKind.Import);
            if (stats[0] is null) return [new UnitDescriptor(name)];
            var (min, max) = (KeyValues.Canonical(kind, session.KeyValue(stats[0]!)), KeyValues.Canonical(kind, session.KeyValue(stats[1]!)));
            var count = spec.Ranges ?? KeyRanges.For(Convert.ToInt64(stats[3]), spec.RowsPerRange ?? Convert.ToInt64(stats[3]));
            IReadOnlyList<KeyRange> ranges;
            if (spec.Split == KeySplit.Quantiles)
            {
                var starts = new List<string>();
                await foreach (var row in session.QueryAsync(session.Sql.Quantiles(key, count), cancellationToken))
                {
                    var start = KeyValues.Canonical(kind, session.KeyValue(row[0]!));
                    if (starts.Count == 0 || starts[^1] != start) starts.Add(start);
                }
                ranges = KeyRanges.AtBounds(key, kind, starts, max);
            }
            else ranges = KeyRanges.EqualWidth(key, kind, min, max, count);
            return [.. ranges.Select(r => new UnitDescriptor($"{name} {key} [{r.From}, {r.To}{(r.Last ? "]" : ")")}", Keys: r))];
        }
        catch (Exception e) when (e is not (SourceDataException or OperationCanceledException))
        {
            throw SqlSession.Failure(spec, connection, e);
        }
    }

    public async Task<IReadOnlyList<ColumnSpec>> ColumnsAsync(SourceSpec source, CancellationToken cancellationToken = default)
    {
        var spec = Sql(source);
        var connection = SourceConnection.Resolve(spec.Connection);
        IReadOnlyList<SourceColumn> described;
        try
        {
            await using var session = await SqlSession.OpenAsync(spec, connection, cancellationToken);
            described = await session.DescribeAsync(null, cancellationToken);
        }
        catch (Exception e) when (e is not (SourceDataException or OperationCanceledException))
        {
            throw SqlSession.Failure(spec, connection, e);
        }
        var invalid = described.Where(c => !SqlIdentifier.IsValid(c.Name)).Select(c => $"'{c.Name}'").ToList();
        if (invalid.Count > 0)
            throw new SourceDataException($"target.columns: \"*\" needs column names that are identifiers (letters, digits, _; at most 63), but {string.Join(", ", invalid)} are not; " +
                                          "name the columns, or rename them in a query", kind: ErrorKind.Import);
        return [.. described.Select(c => new ColumnSpec(c.Name, c.Name, c.Target))];
    }

    public IRecordReader CreateReader(SourceSpec source, TargetSpec? target, UnitDescriptor unit, UnitCheckpoint from, bool encoded = false)
    {
        var spec = Sql(source);
        var connection = SourceConnection.Resolve(spec.Connection);
        var columns = SourceColumns.Of(spec, target, source.Cursor);
        var relayTo = encoded && target is not null && RowRelay.Fits(source, target) ? target : null;
        return spec.Engine == SqlEngine.Postgres
            ? new PostgresReader(spec, connection, columns, unit.Keys, from, SqlIncrement.Of(source), relayTo)
            : new MySqlReader(spec, connection, columns, unit.Keys, from, SqlIncrement.Of(source));
    }

    public Task<OpenedObject> OpenAsync(SourceSpec source, UnitDescriptor unit, long offset, string? version, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("a SQL source's units are read as records (CreateReader), not as bytes");

    private static SqlSourceSpec Sql(SourceSpec source) => source.Sql ?? throw new InvalidOperationException("a sql source without its sql settings");
}
