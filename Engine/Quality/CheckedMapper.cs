using Ingest.Engine.Formats;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Quality;

/// <summary>
/// A flat target's record → row, as every reader of records does it (a load, a dry run, a diff):
/// map the record, then fill defaults and check the spec's rules when it has any.
/// </summary>
public sealed class CheckedMapper(TargetSpec target)
{
    private readonly RecordMapper _mapper = new(target.Columns, target.Key);

    /// <summary>The spec's rules and defaults; null when it has none.</summary>
    public RowValidator? Validator { get; } = target.Validate is { } rules ? new RowValidator(rules, target.Columns) : null;

    /// <summary>Whether the first rejected record fails the unit (<c>onInvalid: fail</c>).</summary>
    public bool FailsOnInvalid => Validator?.OnInvalid == InvalidAction.Fail;

    public MappedRow CreateRow() => _mapper.CreateRow();

    /// <summary>
    /// Which of a reader's text fields each column reads (<see cref="RecordMapper.FieldSlots"/>), to
    /// map its records without their JSON; null when the mapping or a rule needs the JSON.
    /// </summary>
    public int[]? FieldSlots(ITextFields fields) => Validator?.ReadsRecord == true ? null : _mapper.FieldSlots(fields.Keys);

    /// <summary>Fills <paramref name="row"/> from one record's text fields, or says why the record is rejected.</summary>
    public bool TryMap(ITextFields fields, int[] slots, MappedRow row, UnitFacts facts, long index, DateTime now, QualityTally tally, out RecordReject? reject)
    {
        row.Clear();
        return _mapper.TryMap(fields, slots, row, new ElementFacts(facts, index), out reject)
               && (Validator is null || Validator.Check(row, default, now, tally, out reject));
    }

    /// <summary>Fills <paramref name="row"/> from one record, or says why the record is rejected.</summary>
    /// <param name="now">The unit's transaction time, for <c>now()</c> defaults.</param>
    /// <param name="violations">Collects each broken rule, when given (a dry run).</param>
    public bool TryMap(ReadOnlySpan<byte> record, MappedRow row, UnitFacts facts, long index, DateTime now, QualityTally tally,
        out RecordReject? reject, List<RuleViolation>? violations = null)
    {
        row.Clear();
        return _mapper.TryMap(record, row, new ElementFacts(facts, index), default, out reject)
               && (Validator is null || Validator.Check(row, record, now, tally, out reject, violations));
    }
}
