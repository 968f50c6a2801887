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
/// <param name="relayTo">The target, when the rows may be relayed to it as PostgreSQL sends them (<see cref="RowRelay"/>): they are when their types allow.</param>
public sealed class PostgresReader(SqlSourceSpec spec, SourceConnection connection, IReadOnlyList<string>? columns, KeyRange? range, UnitCheckpoint from, SqlIncrement? increment = null,
    TargetSpec? relayTo = null)
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
        if (relayTo is not null && window is null && RowRelay.For(relayTo, described, Range, sql) is { } relay)
        {
            Encoded = true;
            await using var copy = await session.Database.BeginRawBinaryCopyAsync(SourceSql.CopyOut(sql.Rows(relay.Expressions, Range, resumeAt)), cancellationToken);
            await foreach (var (tuple, field) in new CopyTuples(copy).ReadAsync(relay.KeyAt, cancellationToken))
            {
                Relay(tuple);
                // A key range reads no NULL key.
                yield return field < 0 ? null : RowRelay.Key(Range!.Kind, tuple.Span[field..]);
            }
            yield break;
        }
        var expressions = described.Select(c => sql.PostgresExpression(c.Name, c.Type, c.Array)).ToList();
        var names = described.Select(c => System.Text.Json.JsonEncodedText.Encode(c.Name, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)).ToArray();
        // json and jsonb (and arrays, as to_json) come as their text, written as JSON.
        var reads = described.Select(c => ReadOf(c.Type, c.Array)).ToArray();
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
                // Only the key, cursor and tie-break values are kept (boxed); the others are written and let go.
                var value = await WriteAsync(export, reads[i], names[i], keep: i == keyAt || i == cursorAt || i == tieAt, cancellationToken);
                if (i == keyAt) key = KeyValues.Canonical(Range!.Kind, value!);
                if (i == cursorAt) cursor = value;
                if (i == tieAt) tie = value;
            }
            Writer.WriteEndObject();
            // The window reads no NULL cursor or tie-break.
            if (window is not null) SetCursor(window, cursor!, tie!);
            yield return key;
        }
    }

    // How a column is read from the binary COPY: as its type is sent, or as text.
    private enum Read { Bool, Int2, Int4, Int8, Float4, Float8, Date, Timestamp, TimestampTz, Uuid, Bytea, Json, Numeric, Text }

    private static Read ReadOf(string type, bool array) => array ? Read.Json : type switch
    {
        "bool" => Read.Bool,
        "int2" => Read.Int2,
        "int4" => Read.Int4,
        "int8" => Read.Int8,
        "float4" => Read.Float4,
        "float8" => Read.Float8,
        "date" => Read.Date,
        "timestamp" => Read.Timestamp,
        "timestamptz" => Read.TimestampTz,
        "uuid" => Read.Uuid,
        "bytea" => Read.Bytea,
        "json" or "jsonb" => Read.Json,
        "numeric" => Read.Numeric,
        _ => Read.Text,
    };

    // Writes one value; returns it as a key reads it when asked to keep it, else null.
    private async ValueTask<object?> WriteAsync(Npgsql.NpgsqlBinaryExporter export, Read read, System.Text.Json.JsonEncodedText name, bool keep, CancellationToken cancellationToken)
    {
        var w = Writer;
        switch (read)
        {
            case Read.Bool:
                var b = await export.ReadAsync<bool>(NpgsqlDbType.Boolean, cancellationToken);
                w.WriteBoolean(name, b);
                return keep ? b : null;
            case Read.Int2:
                var s = await export.ReadAsync<short>(NpgsqlDbType.Smallint, cancellationToken);
                w.WriteNumber(name, s);
                return keep ? s : null;
            case Read.Int4:
                var i = await export.ReadAsync<int>(NpgsqlDbType.Integer, cancellationToken);
                w.WriteNumber(name, i);
                return keep ? i : null;
            case Read.Int8:
                var l = await export.ReadAsync<long>(NpgsqlDbType.Bigint, cancellationToken);
                w.WriteNumber(name, l);
                return keep ? l : null;
            case Read.Float4:
                var f = await export.ReadAsync<float>(NpgsqlDbType.Real, cancellationToken);
                if (float.IsFinite(f)) w.WriteNumber(name, f);
                else w.WriteString(name, f.ToString(CultureInfo.InvariantCulture));
                return keep ? f : null;
            case Read.Float8:
                var d = await export.ReadAsync<double>(NpgsqlDbType.Double, cancellationToken);
                if (double.IsFinite(d)) w.WriteNumber(name, d);
                else w.WriteString(name, d.ToString(CultureInfo.InvariantCulture));
                return keep ? d : null;
            case Read.Date:
                var date = await export.ReadAsync<DateOnly>(NpgsqlDbType.Date, cancellationToken);
                WriteFormatted(w, name, date, "yyyy-MM-dd");
                return keep ? date : null;
            case Read.Timestamp:
                var local = await export.ReadAsync<DateTime>(NpgsqlDbType.Timestamp, cancellationToken);
                WriteFormatted(w, name, local, "yyyy-MM-dd'T'HH:mm:ss.ffffff");
                return keep ? local : null;
            case Read.TimestampTz:
                var utc = await export.ReadAsync<DateTime>(NpgsqlDbType.TimestampTz, cancellationToken);
                WriteFormatted(w, name, utc, "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'");
                return keep ? utc : null;
            case Read.Uuid:
                var guid = await export.ReadAsync<Guid>(NpgsqlDbType.Uuid, cancellationToken);
                w.WriteString(name, guid);
                return keep ? guid : null;
            case Read.Bytea:
                var bytes = await export.ReadAsync<byte[]>(NpgsqlDbType.Bytea, cancellationToken);
                w.WriteBase64String(name, bytes);
                return bytes;
            case Read.Json:
                var json = await export.ReadAsync<string>(NpgsqlDbType.Text, cancellationToken);
                w.WritePropertyName(name);
                w.WriteRawValue(json, skipInputValidation: true);
                return json;
            default:
                var text = await export.ReadAsync<string>(NpgsqlDbType.Text, cancellationToken);
                // numeric's text is a JSON number, but for NaN and the infinities.
                if (read == Read.Numeric && text.Length > 0 && (char.IsAsciiDigit(text[0]) || text[0] == '-') && !text.Contains("Infinity", StringComparison.Ordinal))
                {
                    w.WritePropertyName(name);
                    w.WriteRawValue(text, skipInputValidation: true);
                    return text;
                }
                w.WriteString(name, text);
                return text;
        }
    }

    // A date or time written without a string of its own.
    private static void WriteFormatted<T>(System.Text.Json.Utf8JsonWriter w, System.Text.Json.JsonEncodedText name, T value, string format) where T : ISpanFormattable
    {
        Span<char> text = stackalloc char[40];
        if (!value.TryFormat(text, out var written, format, CultureInfo.InvariantCulture)) throw new FormatException($"{value} does not fit {format}");
        w.WriteString(name, text[..written]);
    }
}
