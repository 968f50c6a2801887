namespace Ingest.GrainInterfaces;

/// <summary>
/// How an incremental import of a source read by cursor (an HTTP API's <c>source.incremental</c>)
/// reads only what changed: the highest value at <see cref="Path"/> among the records committed by
/// the last import of the same name that ended <c>completed</c>, less <see cref="LagSeconds"/>, is
/// the lower bound the next import reads from (for an API: sent as the query parameter <see cref="Param"/>).
/// </summary>
/// <param name="Path">The dotted path of the cursor in each record (<c>updated_at</c>): an ISO 8601 time, or a number.</param>
/// <param name="Param">Where the lower bound goes: the query parameter sent with every request (<c>updated_since</c>).</param>
/// <param name="Initial">The lower bound while no import of the name has completed (and with <c>submit --full</c>); null: none (everything is read).</param>
/// <param name="LagSeconds">
/// Taken off the committed cursor (a time: seconds; a number: units of it, epoch seconds for times as
/// numbers), so that records written late with an earlier cursor are read again (the key dedups them).
/// </param>
public sealed record CursorSpec(string Path, string Param, string? Initial = null, double LagSeconds = 0);
