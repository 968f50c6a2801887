using System.Globalization;
using System.Text;
using Ingest.Engine.Json;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;

namespace Ingest.Bench;

/// <summary>
/// The rows a spec would load, written as COPY text (TSV) for <c>psql \copy</c>: the cold
/// baseline a data engineer would reach for first. Writing the file is not part of the measurement.
/// A key repeated within its file keeps its last row only (in the place of the first), as a load leaves it.
/// </summary>
public static class PsqlCopyBaseline
{
    public static async Task<long> WriteTsvAsync(ImportSpec spec, string pages, string tsv)
    {
        var mapper = new RecordMapper(spec.Target.Columns, spec.Target.Key);
        var row = mapper.CreateRow();
        long rows = 0;
        await using var output = new StreamWriter(tsv, append: false, new UTF8Encoding(false), 1 << 16);
        var line = new StringBuilder();
        var key = spec.Target.Key.Select(k => spec.Target.Columns.ToList().FindIndex(c => c.Name == k)).ToArray();
        foreach (var file in Directory.GetFiles(pages).Order())
        {
            var lines = new List<string>();
            var byKey = new Dictionary<string, int>();
            await using var stream = File.OpenRead(file);
            await foreach (var record in new JsonRecordReader(file, spec.Source.Records, ndjson: false).ReadAsync(stream))
            {
                if (!mapper.TryMap(record.Span, row, out _)) continue;
                line.Clear();
                for (var c = 0; c < row.Width; c++)
                {
                    if (c > 0) line.Append('\t');
                    Append(line, row, c);
                }
                var k = string.Join('\t', key.Select(c => Convert.ToString(row[c], CultureInfo.InvariantCulture)));
                if (key.Length > 0 && byKey.TryGetValue(k, out var earlier)) lines[earlier] = line.ToString();
                else
                {
                    byKey[k] = lines.Count;
                    lines.Add(line.ToString());
                }
            }
            foreach (var l in lines) await output.WriteLineAsync(l);
            rows += lines.Count;
        }
        return rows;
    }

    private static void Append(StringBuilder line, MappedRow row, int c)
    {
        if (row.IsNull(c))
        {
            line.Append(@"\N");
            return;
        }
        switch (row.Types[c])
        {
            case ColumnType.Text or ColumnType.Jsonb:
                foreach (var ch in Encoding.UTF8.GetString(row.GetBytes(c).Span))
                {
                    // COPY text format: backslash escapes for the delimiter, line ends and itself.
                    if (ch is '\\' or '\t' or '\n' or '\r') line.Append('\\').Append(ch switch { '\t' => 't', '\n' => 'n', '\r' => 'r', _ => '\\' });
                    else line.Append(ch);
                }
                break;
            case ColumnType.Date:
                line.Append(row.GetDate(c).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                break;
            case ColumnType.Timestamptz:
                line.Append(row.GetTimestamp(c).ToString("O", CultureInfo.InvariantCulture));
                break;
            case ColumnType.Boolean:
                line.Append(row.GetBoolean(c) ? 't' : 'f');
                break;
            case ColumnType.Double:
                line.Append(row.GetDouble(c).ToString("R", CultureInfo.InvariantCulture));
                break;
            default:
                line.Append(Convert.ToString(row[c], CultureInfo.InvariantCulture));
                break;
        }
    }
}
