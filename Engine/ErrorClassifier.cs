using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Ingest.Engine.Loading;
using Npgsql;

namespace Ingest.Engine;

/// <summary>
/// The one error classifier: what an error means for the unit or import that met it, and how status
/// shows it. Grains and every connector go by it.
/// </summary>
public static class ErrorClassifier
{
    public static ErrorKind Classify(Exception e) => e switch
    {
        SourceDataException source => source.Kind,
        Sources.Http.HttpFetchException http => http.Kind,
        TargetTableException => ErrorKind.Import,
        PostgresException pg => pg.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure
            or PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
            || pg.SqlState.StartsWith("08", StringComparison.Ordinal) ? ErrorKind.Transient : ErrorKind.Attempt,
        NpgsqlException npgsql => npgsql.IsTransient ? ErrorKind.Transient : ErrorKind.Attempt,
        // A SQL source on MySQL or MariaDB: a connection lost while a range streams goes on from its checkpoint.
        MySqlConnector.MySqlException mysql => mysql.IsTransient || mysql.ErrorCode is MySqlConnector.MySqlErrorCode.UnableToConnectToHost
            or MySqlConnector.MySqlErrorCode.CommandTimeoutExpired ? ErrorKind.Transient : ErrorKind.Attempt,
        // Credentials: every unit would meet them.
        AmazonS3Exception s3 when s3.ErrorCode is "AccessDenied" or "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "AllAccessDisabled" => ErrorKind.Import,
        AmazonServiceException aws => aws.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable or HttpStatusCode.InternalServerError
                or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout or HttpStatusCode.RequestTimeout
                || aws.InnerException is HttpRequestException or IOException
            ? ErrorKind.Transient
            : ErrorKind.Attempt,
        // A connection lost while a source streams (its unit opens again at its last checkpoint).
        // A broker connection or channel lost (the client recovers it) or unreachable.
        RabbitMQ.Client.Exceptions.OperationInterruptedException or RabbitMQ.Client.Exceptions.BrokerUnreachableException => ErrorKind.Transient,
        System.Net.Sockets.SocketException or TimeoutException or HttpRequestException or IOException => ErrorKind.Transient,
        _ => ErrorKind.Attempt,
    };

    /// <summary>Whether running again cannot fix it.</summary>
    public static bool IsBadInput(Exception e) => Classify(e) is ErrorKind.Unit or ErrorKind.Import or ErrorKind.Fatal;

    /// <summary>Whether it passes: worth trying again at once.</summary>
    public static bool IsTransient(Exception e) => Classify(e) == ErrorKind.Transient;

    /// <summary>The error as a status or event shows it.</summary>
    public static string Describe(Exception e) => e switch
    {
        SourceDataException or TargetTableException or Sources.Http.HttpFetchException => e.Message,
        PostgresException pg => $"PostgreSQL {pg.SqlState}: {pg.MessageText}{(pg.Detail is null ? "" : " (" + pg.Detail + ")")}",
        AmazonS3Exception s3 => $"S3 {(int)s3.StatusCode} {s3.ErrorCode}: {s3.Message}",
        _ => $"{e.GetType().Name}: {e.Message}",
    };
}
