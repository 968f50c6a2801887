namespace Ingest.Catalog;

/// <summary>What registering a file's content at a key found (<see cref="ArchiveRegistry.RegisterAsync"/>).</summary>
public enum ArchiveRegistration
{
    /// <summary>The key was free: the claim holds it now.</summary>
    New,

    /// <summary>The key's last registration had failed: the claim holds it now; nothing the registry put is known to be there.</summary>
    Retried,

    /// <summary>
    /// The same content was being archived there by a claim that has lapsed (its silo died): the claim
    /// holds it now, and an object there with this content is the one that upload put.
    /// </summary>
    Resumed,

    /// <summary>The same content is being archived there under another live claim: try again later.</summary>
    Busy,

    /// <summary>The same content is archived there already.</summary>
    Archived,

    /// <summary>The key is registered for other content: it is not overwritten.</summary>
    Conflict,
}
