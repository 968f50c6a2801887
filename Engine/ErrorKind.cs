namespace Ingest.Engine;

/// <summary>What an error means for the work that met it (see <see cref="ErrorClassifier"/>).</summary>
public enum ErrorKind
{
    /// <summary>Passing: the operation is tried again at once, within the same attempt (a lost connection, a deadlock).</summary>
    Transient,

    /// <summary>Ends the attempt; the unit is tried again after a backoff while attempts remain. What is not known to be anything else.</summary>
    Attempt,

    /// <summary>Bad input that running again cannot fix, confined to one unit (a malformed file, a corrupt archive): the unit fails.</summary>
    Unit,

    /// <summary>Bad input that every unit would meet (a missing folder or bucket, a target table that does not match): the import fails when planned; a unit that meets it fails.</summary>
    Import,

    /// <summary>Every unit would meet it now (an API refusing the credentials): the import fails at once, its open units cancelled, rather than unit by unit.</summary>
    Fatal,
}
