namespace Reel.Tests;

/// <summary>
/// The fast tier (<c>./test.sh --fast</c>): tests that start no process, browser or server (no Redis, Azurite, ffmpeg,
/// cluster), run on every change. Everything else runs in the full tier with them.
/// </summary>
public static class Tier
{
    public const string Name = "Tier";
    public const string Fast = "Fast";
}
