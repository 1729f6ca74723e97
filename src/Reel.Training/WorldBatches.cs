using Reel.Media;
using Reel.Model;
using Reel.World;
using static TorchSharp.torch;

namespace Reel.Training;

/// <summary>A batch of same-shaped clips [B, 3, T, H, W] in [-1, 1] with their captions.</summary>
public sealed record VideoBatch(Tensor Video, string[] Captions) : IDisposable
{
    public void Dispose() => Video.Dispose();
}

/// <summary>
/// Batches from the procedural world, decided by (seed, step) alone so a resumed run sees the same data. Each batch
/// has one shape — one of the configuration's sizes and a length — so sizes and aspect ratios mix across batches.
/// </summary>
public sealed class WorldBatches(ModelConfig config, ulong seed, WorldOptions? world = null, VideoSize[]? sizes = null)
{
    public IReadOnlyList<VideoSize> Sizes { get; } = sizes is { Length: > 0 } ? sizes : config.Sizes;

    /// <summary>
    /// A batch whose clips last <paramref name="latentFrames"/> latent frames (1 + f_t·(n − 1) frames), at one of the
    /// configuration's sizes drawn for the step unless <paramref name="size"/> is given.
    /// </summary>
    public VideoBatch At(int step, int batchSize, int latentFrames, VideoSize? size = null)
    {
        var clips = Clips(step, batchSize, latentFrames, size);
        return new VideoBatch(ToVideo(clips.Select(c => c.Frames).ToArray()), clips.Select(c => c.Caption).ToArray());
    }

    /// <summary>The world's clips behind <see cref="At"/>, with their scenes.</summary>
    public WorldClip[] Clips(int step, int batchSize, int latentFrames, VideoSize? size = null)
    {
        var (width, height) = size ?? Random(step, 0).Pick(Sizes);
        var frames = FrameCount.ToPixel(config, latentFrames);
        return Enumerable.Range(0, batchSize)
            .Select(i => ProceduralWorld.Sample(StepSeed(step, i + 1), width, height, frames, config.FrameRate, world)).ToArray();
    }

    /// <summary>The random choices of a step (stream 0) and of its clips (streams 1..B).</summary>
    public WorldRandom Random(int step, int stream) => new(StepSeed(step, stream));

    private ulong StepSeed(int step, int stream) => ChunkPlanner.ChunkSeed(seed ^ ((ulong)step << 20), stream);

    internal static Tensor ToVideo(IReadOnlyList<RgbFrame>[] clips)
    {
        using var scope = NewDisposeScope();
        return cat(clips.Select(FrameTensors.ToVideo).ToList(), 0).MoveToOuterDisposeScope();
    }
}
