namespace Ingest.GrainInterfaces;

/// <summary>
/// The cluster's one scheduler (key 0): it submits the imports registered with <c>ingest schedule add</c>
/// at their times, kept alive by a reminder, so it runs on whichever silos are up.
/// </summary>
public interface IScheduleGrain : IGrainWithIntegerKey
{
    /// <summary>Activates it (registering its reminder) and submits what is due.</summary>
    Task WakeAsync();
}
