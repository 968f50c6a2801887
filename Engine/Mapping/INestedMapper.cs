using System.Text.Json;

namespace Ingest.Engine.Mapping;

/// <summary>
/// Maps the nested values other tables read (a child collection, a referenced dimension) as a
/// <see cref="RecordMapper"/>'s walk meets them, from the walk's own reader: the value is read
/// once, not skipped by the walk and read again.
/// </summary>
public interface INestedMapper
{
    /// <summary>Maps the value of span <paramref name="span"/>, or says why its record is rejected.</summary>
    /// <param name="reader">On the value's first token (never JSON null); left on its last.</param>
    /// <param name="json">The text <paramref name="reader"/> reads; its positions are relative to it.</param>
    bool TryMapNested(int span, ref Utf8JsonReader reader, ReadOnlySpan<byte> json, out RecordReject? reject);
}
