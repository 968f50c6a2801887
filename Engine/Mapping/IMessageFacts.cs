using Ingest.GrainInterfaces;

namespace Ingest.Engine.Mapping;

/// <summary>The message a record came in, as the JSON values that message <c>meta</c> columns convert from.</summary>
public interface IMessageFacts
{
    /// <summary>The value's JSON for the record read last; empty when the message has none (NULL).</summary>
    /// <param name="meta">One of the message metas (<see cref="UnitMeta.MessageId"/> … <see cref="UnitMeta.Header"/>).</param>
    /// <param name="header">For <see cref="UnitMeta.Header"/>: the header's name.</param>
    ReadOnlySpan<byte> Json(UnitMeta meta, string? header);
}
