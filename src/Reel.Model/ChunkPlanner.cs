namespace Reel.Model;

/// <summary>The 1 + k·f_t frame rule: the first frame is encoded alone, the rest in groups of f_t.</summary>
public static class FrameCount
{
    /// <summary>The shortest valid frame count that lasts at least <paramref name="seconds"/>.</summary>
    public static int ForSeconds(ModelConfig config, double seconds)
    {
        if (!(seconds > 0) || double.IsInfinity(seconds))
            throw new ModelException($"Duration must be a positive number of seconds, got {seconds}.");
        // The epsilon keeps 2.0 s × 8 fps = 16.000000001 from rounding up a whole group.
        var groups = (int)Math.Ceiling(seconds * config.FrameRate / config.TemporalCompression - 1e-9);
        return 1 + config.TemporalCompression * Math.Max(1, groups);
    }

    public static bool IsValid(ModelConfig config, int frames) =>
        frames >= 1 && (frames - 1) % config.TemporalCompression == 0;

    /// <summary>Throws a message naming the nearest valid counts when <paramref name="frames"/> breaks the rule.</summary>
    public static void Require(ModelConfig config, int frames)
    {
        if (IsValid(config, frames)) return;
        var ft = config.TemporalCompression;
        var below = frames < 1 ? 1 : 1 + (frames - 1) / ft * ft;
        throw new ModelException(
            $"{frames} frames is not 1 + k·{ft} for model '{config.Name}'; nearest valid counts are {below} and {below + ft}.");
    }

    public static int ToLatent(ModelConfig config, int frames)
    {
        Require(config, frames);
        return 1 + (frames - 1) / config.TemporalCompression;
    }

    public static int ToPixel(ModelConfig config, int latentFrames) => 1 + (latentFrames - 1) * config.TemporalCompression;

    public static double Seconds(ModelConfig config, int frames) => (double)frames / config.FrameRate;
}

/// <summary>
/// One chunk: latent frames [Start, Start + Length) of the whole video. Its first <paramref name="GivenFromPrevious"/>
/// frames are the previous chunk's last latents, given; the rest are new.
/// </summary>
public sealed record ChunkSpan(int Index, int Start, int Length, int GivenFromPrevious, ulong Seed)
{
    public int End => Start + Length;
    public int NewFrames => Length - GivenFromPrevious;
}

public sealed record ChunkPlan(int Frames, int LatentFrames, ulong Seed, IReadOnlyList<ChunkSpan> Chunks);

/// <summary>
/// Cuts a video's latent timeline into chunks that each fit one DiT sequence. Shared by every caller
/// (CLI, evaluation, cluster) so that a video is the same however its chunks are scheduled.
/// </summary>
public static class ChunkPlanner
{
    /// <summary>
    /// The chunks of a <paramref name="frames"/>-frame timeline. When it continues an existing video whose
    /// <paramref name="continuesAt"/> latent frames are already there, chunks start after them and the first takes the
    /// overlap from the video's end, as any later chunk does.
    /// </summary>
    public static ChunkPlan Plan(ModelConfig config, int frames, ulong seed, int continuesAt = 0)
    {
        var latentFrames = FrameCount.ToLatent(config, frames);
        if (continuesAt < 0 || continuesAt >= latentFrames)
            throw new ModelException($"A {latentFrames}-latent-frame timeline cannot continue after latent frame {continuesAt}.");
        var chunks = new List<ChunkSpan>();
        var end = continuesAt;
        if (continuesAt == 0)
        {
            end = Math.Min(config.ChunkLatentFrames, latentFrames);
            chunks.Add(new ChunkSpan(0, 0, end, 0, ChunkSeed(seed, 0)));
        }
        while (end < latentFrames)
        {
            var start = Math.Max(0, end - config.OverlapLatentFrames);
            var length = Math.Min(config.ChunkLatentFrames, latentFrames - start);
            chunks.Add(new ChunkSpan(chunks.Count, start, length, end - start, ChunkSeed(seed, chunks.Count)));
            end = start + length;
        }
        return new ChunkPlan(frames, latentFrames, seed, chunks);
    }

    /// <summary>
    /// Seed of chunk i: SplitMix64(seed + (i + 1) · 0x9E3779B97F4A7C15), wrapping in 64 bits.
    /// Depends on nothing but the request seed and the index, so any process can run any chunk.
    /// </summary>
    public static ulong ChunkSeed(ulong seed, int index)
    {
        unchecked
        {
            var z = seed + (ulong)(index + 1) * 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
