using System.Runtime.CompilerServices;
using Ingest.Engine.Sources;

namespace Ingest.Engine.Formats;

/// <summary>
/// How one file of a format is cut into ranges: the scanner that finds line starts outside quotes,
/// the rows before its first record (a CSV file's skipped rows and header), and what a reader
/// started at a line needs besides its offset.
/// </summary>
/// <param name="Scanner">Finds the boundaries.</param>
/// <param name="Preamble">Rows the scanner counts that are not records: no range starts before they end.</param>
/// <param name="StateAt">The reader's state for a range whose first line follows this many line breaks; null when the offset is enough.</param>
public sealed record RecordSplitter(RecordBoundaryScanner Scanner, long Preamble, Func<long, string?> StateAt)
{
    /// <summary>The ranges of a file's content (from its start), of about <paramref name="every"/> bytes each, in order.</summary>
    public async IAsyncEnumerable<UnitRange> RangesAsync(Stream content, long every, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var start = new UnitRange(0, 0, 0, 0);
        await foreach (var boundary in Scanner.ScanAsync(content, every, cancellationToken))
        {
            if (!boundary.End && boundary.Records <= Preamble) continue;
            if (boundary.End && boundary.Offset == start.Start && start.Start > 0) yield break; // the last line break ended the file
            yield return start with { End = boundary.Offset };
            if (boundary.End) yield break;
            start = new UnitRange(boundary.Offset, 0, boundary.Records - Preamble, boundary.Lines, StateAt(boundary.Lines));
        }
    }
}
