using System.Globalization;
using System.Runtime.CompilerServices;
using Ingest.GrainInterfaces;
using NpgsqlTypes;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// Reads a PostgreSQL source's unit with binary <c>COPY (SELECT …) TO STDOUT</c> through Npgsql's
/// <c>BeginBinaryExport</c>: no text parsing on either side. Each column is read as its type is
/// sent (<see cref="SourceSql.PostgresExpression"/>): booleans, integers and floats as numbers,
/// numeric as its exact text written as a JSON number, dates as <c>yyyy-MM-dd</c>, timestamps
/// to the microsecond (with <c>Z</c> for timestamptz), uuid as text, bytea as base64, json and
/// jsonb and arrays as JSON, and any other type as its text.
/// </summary>
public sealed class PostgresReader(SqlSourceSpec spec, SourceConnection connection, IReadOnlyList<string>? columns, KeyRange? range, UnitCheckpoint from, SqlIncrement? increment = null)
    : SqlRecordReader(spec, connection, columns, range, from, increment)
{
    private static readonly HashSet<string> Native =
        ["bool", "int2", "int4", "int8", "float4", "float8", "text", "varchar", "bpchar", "name", "date", "timestamp", "timestamptz", "uuid", "bytea"];

    /// <summary>Whether a type (by internal name) is read as it is sent; any other is sent as text.</summary>
    public static bool IsNative(string type) => Native.Contains(type);

    protected override async IAsyncEnumerable<string?> RowsAsync(string? resumeAt, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var session = (PostgresSession)await SqlSession.OpenAsync(Spec, Connection, cancellationToken);
        var window = await session.NarrowAsync(Increment, cancellationToken);
        var described = await session.DescribeAsync(Columns, cancellationToken);
        var sql = session.Sql;
        var expressions = described.Select(c => sql.PostgresExpression(c.Name, c.Type, c.Array)).ToList();
        var names = described.Select(c => System.Text.Json.JsonEncodedText.Encode(c.Name, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)).ToArray();
        // json and jsonb (and arrays, as to_json) come as their text, written as JSON.
        var reads = described.Select(c => c.Array || c.Type is "json" or "jsonb" ? "json" : IsNative(c.Type) ? c.Type : "text").ToArray();
        var keyAt = Range is null ? -1 : described.ToList().FindIndex(c => c.Name == Range.Column);
        var (cursorAt, tieAt) = window is null ? (-1, -1) : (described.ToList().FindIndex(c => c.Name == window.Cursor), described.ToList().FindIndex(c => c.Name == window.TieBreak));
        object? cursor = null, tie = null;
        await using var export = await session.Database.BeginBinaryExportAsync(SourceSql.CopyOut(sql.Rows(expressions, Range, resumeAt)), cancellationToken);
        while (await export.StartRowAsync(cancellationToken) != -1)
        {
            Writer.WriteStartObject();
            string? key = null;
            for (var i = 0; i < reads.Length; i++)
            {
                if (export.IsNull)
                {
                    await export.SkipAsync(cancellationToken);
                    Writer.WriteNull(names[i]);
                    continue;
                }
                var value = await WriteAsync(export, reads[i], described[i].Type, names[i], cancellationToken);
                if (i == keyAt) key = KeyValues.Canonical(Range!.Kind, value);
                if (i == cursorAt) cursor = value;
                if (i == tieAt) tie = value;
            }
            Writer.WriteEndObject();
            // The window reads no NULL cursor or tie-break.
            if (window is not null) SetCursor(window, cursor!, tie!);
            yield return key;
        }
    }

    // Writes one value; returns it as a key reads it.
    private async Task<object> WriteAsync(Npgsql.NpgsqlBinaryExporter export, string read, string type, System.Text.Json.JsonEncodedText name, CancellationToken cancellationToken)
    {
        var w = Writer;
        switch (read)
        {
            case "bool":
                var b = await export.ReadAsync<bool>(NpgsqlDbType.Boolean, cancellationToken);
                w.WriteBoolean(name, b);
                return b;
            case "int2":
                var s = await export.ReadAsync<short>(NpgsqlDbType.Smallint, cancellationToken);
                w.WriteNumber(name, s);
                return s;
            case "int4":
                var i = await export.ReadAsync<int>(NpgsqlDbType.Integer, cancellationToken);
                w.WriteNumber(name, i);
                return i;
            case "int8":
                var l = await export.ReadAsync<long>(NpgsqlDbType.Bigint, cancellationToken);
                w.WriteNumber(name, l);
                return l;
            case "float4":
                var f = await export.ReadAsync<float>(NpgsqlDbType.Real, cancellationToken);
                if (float.IsFinite(f)) w.WriteNumber(name, f);
                else w.WriteString(name, f.ToString(CultureInfo.InvariantCulture));
                return f;
            case "float8":
                var d = await export.ReadAsync<double>(NpgsqlDbType.Double, cancellationToken);
                if (double.IsFinite(d)) w.WriteNumber(name, d);
                else w.WriteString(name, d.ToString(CultureInfo.InvariantCulture));
                return d;
            case "date":
                var date = await export.ReadAsync<DateOnly>(NpgsqlDbType.Date, cancellationToken);
                w.WriteString(name, date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                return date;
            case "timestamp":
                var local = await export.ReadAsync<DateTime>(NpgsqlDbType.Timestamp, cancellationToken);
                w.WriteString(name, local.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture));
                return local;
            case "timestamptz":
                var utc = await export.ReadAsync<DateTime>(NpgsqlDbType.TimestampTz, cancellationToken);
                w.WriteString(name, utc.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
                return utc;
            case "uuid":
                var guid = await export.ReadAsync<Guid>(NpgsqlDbType.Uuid, cancellationToken);
                w.WriteString(name, guid);
                return guid;
            case "bytea":
                var bytes = await export.ReadAsync<byte[]>(NpgsqlDbType.Bytea, cancellationToken);
                w.WriteBase64String(name, bytes);
                return bytes;
            case "json":
                var json = await export.ReadAsync<string>(NpgsqlDbType.Text, cancellationToken);
                w.WritePropertyName(name);
                w.WriteRawValue(json, skipInputValidation: true);
                return json;
            default:
                var text = await export.ReadAsync<string>(NpgsqlDbType.Text, cancellationToken);
                // numeric's text is a JSON number, but for NaN and the infinities.
                if (type == "numeric" && text.Length > 0 && (char.IsAsciiDigit(text[0]) || text[0] == '-') && !text.Contains("Infinity", StringComparison.Ordinal))
                {
                    w.WritePropertyName(name);
                    w.WriteRawValue(text, skipInputValidation: true);
                    return text;
                }
                w.WriteString(name, text);
                return text;
        }
    }
}
