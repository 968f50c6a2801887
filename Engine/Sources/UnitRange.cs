namespace Ingest.Engine.Sources;

/// <summary>
/// A record-aligned byte range of a file split across units: its bytes from <paramref name="Start"/>
/// (the first byte of a line) up to <paramref name="End"/>, and what the records before it were,
/// so that record indexes and line numbers stay the file's.
/// </summary>
/// <param name="Start">Where its first record starts.</param>
/// <param name="End">Just past its last record (the next range's start, or the file's end).</param>
/// <param name="Records">The records of the file before it.</param>
/// <param name="Line">The line breaks of the file before it: its first line is the next one.</param>
/// <param name="State">What the format needs to read from <paramref name="Start"/> (a CSV file's header and delimiter); null when the offset is enough.</param>
public sealed record UnitRange(long Start, long End, long Records, long Line, string? State = null);
