namespace Reel.Media;

/// <summary>What input media may be, so that a hostile or mistaken file fails fast with a clear message.</summary>
public sealed record MediaLimits
{
    /// <summary>Largest input file. Default 512 MiB.</summary>
    public long MaxFileBytes { get; init; } = 512L * 1024 * 1024;

    /// <summary>Largest width or height of an input. Default 8192 pixels.</summary>
    public int MaxDimension { get; init; } = 8192;

    /// <summary>Longest input video. Default 10 minutes.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromMinutes(10);

    public static MediaLimits Default { get; } = new();
}
