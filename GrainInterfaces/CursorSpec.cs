namespace Ingest.GrainInterfaces;

/// <summary>
/// How an incremental import of a source read by cursor reads only what changed. An HTTP API's
/// <c>source.incremental</c>: the highest value at <see cref="Path"/> among the records committed by
/// the last import of the same name that ended <c>completed</c>, less <see cref="LagSeconds"/>, is
/// the lower bound the next import reads from, sent as the query parameter <see cref="Param"/>. A SQL
/// source's: the highest pair of the columns <see cref="Path"/> and <see cref="TieBreak"/> committed
/// so, above which the next import reads, and below its source's clock less <see cref="LagSeconds"/>.
/// </summary>
/// <param name="Path">The dotted path of the cursor in each record (<c>updated_at</c>): an ISO 8601 time, or a number; for a SQL source, the cursor column.</param>
/// <param name="Param">Where the lower bound goes: the query parameter sent with every request (<c>updated_since</c>); null for a SQL source.</param>
/// <param name="Initial">The lower bound while no import of the name has completed (and with <c>submit --full</c>); null: none (everything is read).</param>
/// <param name="LagSeconds">
/// HTTP: taken off the committed cursor (a time: seconds; a number: units of it, epoch seconds for
/// times as numbers), so that records written late with an earlier cursor are read again (the key
/// dedups them). SQL: rows whose cursor is not below the source's clock less this many seconds at
/// planning wait for a later import.
/// </param>
/// <param name="TieBreak">
/// A SQL source's second column, unique among the rows sharing one cursor value (the key): the
/// committed cursor is the pair, so that rows of one cursor value are never skipped. Null for HTTP.
/// </param>
public sealed record CursorSpec(string Path, string? Param, string? Initial = null, double LagSeconds = 0, string? TieBreak = null);
