using System.Text.Json.Serialization;

namespace Ingest.Engine.Sources;

/// <summary>
/// How far a unit has committed: the records before it are loaded, and its next attempt starts
/// after them. Committed with the rows of the chunk that reached it, under the unit's fence.
/// </summary>
/// <param name="Records">Records read (loaded or rejected) and committed.</param>
/// <param name="Offset">The offset in the (decompressed) content just past the last of them.</param>
/// <param name="ETag">The version of the file that was read: a later attempt resumes only in the same one.</param>
/// <param name="State">What the format needs besides the offset to read on (a CSV file's header, delimiter and line); absent for JSON.</param>
public sealed record UnitCheckpoint(long Records, long Offset, string? ETag,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? State = null)
{
    /// <summary>Nothing committed yet.</summary>
    public static UnitCheckpoint Start { get; } = new(0, 0, null);
}
