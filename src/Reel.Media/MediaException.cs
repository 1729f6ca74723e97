namespace Reel.Media;

/// <summary>Input media that cannot be used, or output that could not be written; the message says which and why.</summary>
public sealed class MediaException(string message) : Exception(message);
