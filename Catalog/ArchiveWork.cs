using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;

namespace Ingest.Catalog;

/// <summary>A loaded file to archive: its import, its first unit (the file whole, or its first range), and when its load committed.</summary>
/// <param name="LoadedAt">When the file's last unit committed: the load date of the key template.</param>
public sealed record ArchiveWork(long ImportId, string ImportName, ImportSpec Spec, int UnitNo, UnitDescriptor Unit, DateTimeOffset LoadedAt);
