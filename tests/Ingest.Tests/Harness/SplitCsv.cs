using System.Text;

namespace Ingest.Tests.Harness;

/// <summary>
/// CSV files made to be split wrongly: rows of quoted fields holding delimiters, doubled quotes,
/// line breaks (LF and CR LF) and stray quotes, and, at every multiple of the split size, a quoted
/// field whose line break falls exactly there, so that "the next newline after the offset" is
/// inside a field.
/// </summary>
public static class SplitCsv
{
    /// <summary>The dialect of a file: its line break, quote, escape, and what else it holds.</summary>
    public sealed record Dialect(string Newline = "\n", char Quote = '"', bool BackslashEscape = false, char? Comment = null, int SkipRows = 0,
        bool Header = true, char Delimiter = ',');

    /// <summary>Writes <paramref name="rows"/> rows (ids 1..rows) of id, name, note.</summary>
    public static void Write(string path, int rows, long split, Dialect dialect, int seed = 7)
    {
        var random = new Random(seed);
        var (d, q, nl) = (dialect.Delimiter, dialect.Quote, dialect.Newline);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        long written = 0;
        void Append(string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            file.Write(bytes);
            written += bytes.Length;
        }
        for (var i = 0; i < dialect.SkipRows; i++) Append($"report {i}{d} \"not a row{nl}{nl}"); // a stray quote, then an empty line
        if (dialect.Header) Append($"id{d}name{d}note{nl}");
        var (cut, cuts) = (split, 0);
        for (var id = 1; id <= rows; id++)
        {
            // A quoted field whose line break is the byte just before the cut (a cut "after a line
            // break" would start inside it), or the byte at it (so would "the next line break").
            var before = $"{id}{d}{q}";
            var pad = cut - 1 - written - before.Length + cuts % 2;
            if (pad is >= 0 and < 400)
            {
                cuts++;
                Append(before + new string('x', (int)pad) + "\n" + $"after the cut{q}{d}cut{nl}");
                cut += split;
                continue;
            }
            while (written >= cut) cut += split;
            Append($"{id}{d}{Field(random, dialect)}{d}{Field(random, dialect)}{nl}");
            switch (random.Next(40))
            {
                case 0: Append(nl); break;                                                       // an empty line
                case 1 when dialect.Comment is { } c: Append($"{c} a comment, \"quoted{nl}"); break; // a comment line with a quote
            }
        }
    }

    private static string Field(Random random, Dialect dialect)
    {
        var q = dialect.Quote;
        var escapedQuote = dialect.BackslashEscape ? $"\\{q}" : $"{q}{q}";
        return random.Next(8) switch
        {
            0 => $"{q}a{dialect.Delimiter} b{q}",
            1 => $"{q}two{dialect.Newline}lines{q}",
            2 => $"{q}said {escapedQuote}hi{escapedQuote}{q}",
            3 => "5'10\" tall",                                       // a stray quote: text
            4 => $"{q}{escapedQuote}{dialect.Newline}{escapedQuote}{q}", // a quote, a line break, a quote
            5 => "",
            6 => $"{q}ñandú €{q}",
            _ => $"plain{random.Next(1000)}",
        };
    }
}
