using System.Security.Cryptography;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// A message's id in the ledger: the record's <c>source.messageId</c> path when the body holds one
/// record, else the <c>message_id</c> property, else the hash of the body. A delivery tag is never
/// one: it is per channel.
/// </summary>
public static class MessageIdentity
{
    public static string Of(ReceivedMessage message, MessageBody body, string[]? messageIdPath)
    {
        if (messageIdPath is not null && body.Records.Count == 1 && MessageBody.ValueAt(body.Records[0], messageIdPath) is { Length: > 0 } id) return id;
        if (message.MessageId is { } property) return property;
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(message.Body));
    }

    /// <summary>
    /// What tells one publish from another of the same id: a hash of the <c>message_id</c> property
    /// and the body (the same on a redelivery).
    /// </summary>
    public static string Delivery(ReceivedMessage message)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(message.MessageId ?? ""));
        hash.AppendData([0]);
        hash.AppendData(message.Body);
        return Convert.ToHexStringLower(hash.GetHashAndReset().AsSpan(0, 16));
    }
}
