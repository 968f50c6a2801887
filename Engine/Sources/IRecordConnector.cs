using Ingest.Engine.Formats;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>
/// A connector whose units are rows rather than bytes (a SQL database): it plans knowing the target
/// (so that a column the spec maps and the source lacks fails the plan), and its units are read by
/// a record reader of its own instead of a format over a stream.
/// </summary>
public interface IRecordConnector : ISourceConnector
{
    /// <summary>Yields the units of an import (at least one), having checked that the source can be read as the target maps it.</summary>
    /// <exception cref="SourceDataException">The source cannot be reached or read, or lacks a mapped column; the message is the engine's, credentials masked.</exception>
    IAsyncEnumerable<UnitDescriptor> PlanAsync(SourceSpec source, TargetSpec? target, CancellationToken cancellationToken = default);

    /// <summary>Every column of the source, by name, with the target type that holds its values (<c>"columns": "*"</c>).</summary>
    /// <exception cref="SourceDataException">The source cannot be reached or read; the engine's message, credentials masked.</exception>
    Task<IReadOnlyList<ColumnSpec>> ColumnsAsync(SourceSpec source, CancellationToken cancellationToken = default);

    /// <summary>A reader of the unit's records after <paramref name="from"/>; it connects when it is first read, and disconnects when its enumeration ends.</summary>
    /// <param name="encoded">Whether the caller takes rows of the target's binary COPY (<see cref="IRecordReader.Encoded"/>) where the source can give them.</param>
    IRecordReader CreateReader(SourceSpec source, TargetSpec? target, UnitDescriptor unit, UnitCheckpoint from, bool encoded = false);
}
