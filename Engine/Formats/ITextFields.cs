namespace Ingest.Engine.Formats;

/// <summary>
/// A reader whose records are text fields (a CSV row's), which a flat mapping reads one by one
/// instead of the record's JSON. Once <see cref="DeferJson"/> is called the reader yields empty
/// records and writes a record's JSON only when it is asked for (<see cref="Json"/>: a repeated
/// key set aside, a record's cursor), so a row goes from its fields to its columns directly.
/// </summary>
public interface ITextFields
{
    /// <summary>The key of each field, in order: the paths a mapping names the fields by.</summary>
    IReadOnlyList<string> Keys { get; }

    /// <summary>
    /// The text of field <paramref name="key"/> (an index into <see cref="Keys"/>) of the record
    /// last yielded, valid until the next call; false when the field is NULL or absent.
    /// </summary>
    bool TryGet(int key, out ReadOnlySpan<byte> text);

    /// <summary>From the next record on, yields empty records: their JSON is written by <see cref="Json"/>.</summary>
    void DeferJson();

    /// <summary>The JSON of the record last yielded, written when first asked for.</summary>
    ReadOnlyMemory<byte> Json();
}
