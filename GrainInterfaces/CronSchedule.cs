using Cronos;

namespace Ingest.GrainInterfaces;

/// <summary>
/// When a scheduled import is due: a cron expression (five fields, or six with seconds first) in a
/// time zone (UTC unless the spec names one), read by Cronos.
/// </summary>
public sealed class CronSchedule
{
    private readonly CronExpression _expression;
    private readonly TimeZoneInfo _zone;

    private CronSchedule(CronExpression expression, TimeZoneInfo zone) => (_expression, _zone) = (expression, zone);

    /// <summary>The schedule, or why <paramref name="cron"/> or <paramref name="timeZone"/> is not one.</summary>
    public static CronSchedule? Parse(string cron, string? timeZone, out string? problem)
    {
        problem = null;
        CronExpression expression;
        try
        {
            var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            expression = CronExpression.Parse(cron, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException e)
        {
            problem = $"schedule: '{cron}' is not a cron expression ({e.Message})";
            return null;
        }
        var zone = TimeZoneInfo.Utc;
        if (timeZone is not null && !TimeZoneInfo.TryFindSystemTimeZoneById(timeZone, out zone!))
        {
            problem = $"timeZone: '{timeZone}' is not a known time zone (an IANA name such as Europe/Madrid)";
            return null;
        }
        return new CronSchedule(expression, zone);
    }

    /// <summary>The first time the schedule is due after <paramref name="after"/>, in UTC; null when it never is again.</summary>
    public DateTimeOffset? NextAfter(DateTimeOffset after) => _expression.GetNextOccurrence(after, _zone)?.ToUniversalTime();
}
