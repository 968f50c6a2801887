namespace Ingest.Engine.Loading;

/// <summary>The target table is missing or does not match the spec. Terminal: nothing is loaded.</summary>
public sealed class TargetTableException(string message) : Exception(message);
