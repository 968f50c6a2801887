using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ingest.GrainInterfaces;
using MySqlConnector;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// Reads a MySQL or MariaDB source's unit with one streamed SELECT. Integers (unsigned ones too,
/// up to 2^64 − 1) and DECIMALs are written as exact JSON numbers, floats as numbers, DATE as
/// <c>yyyy-MM-dd</c>, DATETIME as a timestamp without zone, TIMESTAMP in UTC with <c>Z</c>, JSON as
/// JSON, binary columns as base64, anything else as text. A zero date (<c>0000-00-00</c>) is
/// written as NULL and reported (<see cref="SqlRecordReader.Nulled"/>), so the load counts it.
/// </summary>
public sealed class MySqlReader(SqlSourceSpec spec, SourceConnection connection, IReadOnlyList<string>? columns, KeyRange? range, UnitCheckpoint from, SqlIncrement? increment = null)
    : SqlRecordReader(spec, connection, columns, range, from, increment)
{
    protected override async IAsyncEnumerable<string?> RowsAsync(string? resumeAt, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var session = (MySqlSession)await SqlSession.OpenAsync(Spec, Connection, cancellationToken);
        var window = await session.NarrowAsync(Increment, cancellationToken);
        var sql = session.Sql;
        var json = await session.JsonColumnsAsync(cancellationToken);
        var list = Columns is null ? ["q.*"] : Columns.Select(sql.Column).ToList();
        await using var cmd = new MySqlCommand(sql.Rows(list, Range, resumeAt), session.Database, session.Transaction) { CommandTimeout = 0 };
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        var schema = reader.GetColumnSchema().Cast<MySqlDbColumn>().ToList();
        var names = schema.Select(c => JsonEncodedText.Encode(c.ColumnName, JavaScriptEncoder.UnsafeRelaxedJsonEscaping)).ToArray();
        var plain = schema.Select(c => c.ColumnName).ToArray();
        var types = schema.Select(c => json.Contains(c.ColumnName) ? MySqlDbType.JSON : c.ProviderType).ToArray();
        var keyAt = Range is null ? -1 : Array.IndexOf(plain, Range.Column);
        var (cursorAt, tieAt) = window is null ? (-1, -1) : (Array.IndexOf(plain, window.Cursor), Array.IndexOf(plain, window.TieBreak));
        var ended = false;
        try
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                Writer.WriteStartObject();
                string? key = null;
                object? cursor = null, tie = null;
                for (var i = 0; i < types.Length; i++)
                {
                    if (reader.IsDBNull(i))
                    {
                        Writer.WriteNull(names[i]);
                        continue;
                    }
                    var value = Write(reader, i, types[i], names[i], plain[i]);
                    if (i == keyAt && value is not null) key = KeyValues.Canonical(Range!.Kind, session.KeyValue(value));
                    if (i == cursorAt) cursor = value;
                    if (i == tieAt) tie = value;
                }
                Writer.WriteEndObject();
                // The window reads no NULL cursor or tie-break; a zero date (made NULL) is below any bound but has no pair.
                if (window is not null && cursor is not null && tie is not null) SetCursor(window, session.KeyValue(cursor), session.KeyValue(tie));
                yield return key;
            }
            ended = true;
        }
        finally
        {
            // Left before its end (a sample, a cancel): the server stops the query, rather than the driver reading the rest to close the reader.
            if (!ended) await StopAsync(cmd, reader);
        }
    }

    private static async Task StopAsync(MySqlCommand cmd, MySqlDataReader reader)
    {
        cmd.Cancel();
        try { await reader.DisposeAsync(); }
        catch (MySqlException e) when (e.ErrorCode is MySqlErrorCode.QueryInterrupted)
        {
            // The query it stopped.
        }
    }

    // Writes one value; returns it as a key reads it (null for a zero date).
    private object? Write(MySqlDataReader reader, int i, MySqlDbType type, JsonEncodedText name, string column)
    {
        var w = Writer;
        switch (type)
        {
            case MySqlDbType.Bool:
                var b = reader.GetBoolean(i);
                w.WriteBoolean(name, b);
                return b;
            case MySqlDbType.UInt64 or MySqlDbType.Bit:
                var u = reader.GetUInt64(i);
                w.WriteNumber(name, u);
                return u;
            case MySqlDbType.Byte or MySqlDbType.UByte or MySqlDbType.Int16 or MySqlDbType.UInt16 or MySqlDbType.Int24 or MySqlDbType.UInt24
                or MySqlDbType.Int32 or MySqlDbType.UInt32 or MySqlDbType.Int64 or MySqlDbType.Year:
                var l = Convert.ToInt64(reader.GetValue(i), CultureInfo.InvariantCulture);
                w.WriteNumber(name, l);
                return l;
            case MySqlDbType.Float or MySqlDbType.Double:
                var d = reader.GetDouble(i);
                if (type == MySqlDbType.Float) w.WriteNumber(name, reader.GetFloat(i));
                else w.WriteNumber(name, d);
                return d;
            case MySqlDbType.Decimal or MySqlDbType.NewDecimal:
                var exact = reader.GetMySqlDecimal(i);
                w.WritePropertyName(name);
                w.WriteRawValue(exact.ToString(), skipInputValidation: true);
                return exact;
            case MySqlDbType.Date or MySqlDbType.Newdate or MySqlDbType.DateTime or MySqlDbType.Timestamp:
                var at = reader.GetMySqlDateTime(i);
                if (!at.IsValidDateTime)
                {
                    Null(column);
                    return null;
                }
                var value = at.GetDateTime();
                w.WriteString(name, type switch
                {
                    MySqlDbType.Date or MySqlDbType.Newdate => value.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                    MySqlDbType.DateTime => value.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
                    _ => value.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
                });
                return value;
            case MySqlDbType.JSON:
                var json = reader.GetString(i);
                w.WritePropertyName(name);
                w.WriteRawValue(json, skipInputValidation: true);
                return json;
            case MySqlDbType.Binary or MySqlDbType.VarBinary or MySqlDbType.TinyBlob or MySqlDbType.Blob or MySqlDbType.MediumBlob
                or MySqlDbType.LongBlob or MySqlDbType.Geometry:
                var bytes = (byte[])reader.GetValue(i);
                w.WriteBase64String(name, bytes);
                return bytes;
            case MySqlDbType.Time:
                var time = reader.GetTimeSpan(i);
                w.WriteString(name, time.ToString("c", CultureInfo.InvariantCulture));
                return time;
            default:
                var text = Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture) ?? "";
                w.WriteString(name, text);
                return text;
        }
    }
}
