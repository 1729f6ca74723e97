using Reel.Media;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>
/// A generation and how its decoded timeline becomes the output video:
/// <c>Before + decoded[DropHead .. frames − DropTail] + After</c>. Modes that join existing footage keep the
/// sources' own frames (Before, After) and use only the new segment of the decoded timeline.
/// </summary>
public sealed record VideoJob(GenerationRequest Request, Tensor? Before = null, int DropHead = 0, int DropTail = 0, Tensor? After = null)
    : IDisposable
{
    public int OutputFrames => (int)(Before?.shape[2] ?? 0) + Request.Frames - DropHead - DropTail + (int)(After?.shape[2] ?? 0);

    /// <summary>The output video's frames in order, from the decoded timeline: Before, the kept part, After.</summary>
    public IEnumerable<RgbFrame> Output(IEnumerable<RgbFrame> decoded)
    {
        if (Before is not null) foreach (var frame in FrameTensors.ToFrames(Before)) yield return frame;
        foreach (var frame in decoded.Take(Request.Frames - DropTail).Skip(DropHead)) yield return frame;
        if (After is not null) foreach (var frame in FrameTensors.ToFrames(After)) yield return frame;
    }

    /// <summary>
    /// Latent frames of the timeline that decode to exactly the output (the decoder is causal, so a dropped tail of
    /// whole latent frames leaves the rest as it is); null when the output joins footage the timeline does not hold.
    /// </summary>
    public int? OutputLatentFrames(ModelConfig config) =>
        Before is null && After is null && DropHead == 0 && DropTail % config.TemporalCompression == 0
            ? FrameCount.ToLatent(config, Request.Frames) - DropTail / config.TemporalCompression
            : null;

    public void Dispose()
    {
        Before?.Dispose();
        After?.Dispose();
        foreach (var span in Request.Given) span.Latents.Dispose();
        Request.Edit?.Latents.Dispose();
        Request.Continues?.Dispose();
    }
}

/// <summary>
/// The user-facing modes, each a request of the one conditioning mechanism. Pixel inputs are [1, 3, T, H, W] in
/// [-1, 1] at the output size. Existing footage is given as context: the last 1 + f_t·(K − 1) frames of a video that
/// is continued, the first f_t·K frames of one that is led into, K = <see cref="ModelConfig.ContextLatentFrames"/>.
/// </summary>
public sealed class VideoModes(VideoGenerator generator, ModelConfig config)
{
    /// <summary>The SDEdit strength of an edit that names none: enough to follow a new prompt, keeping the source's layout and motion.</summary>
    public const double DefaultEditStrength = 0.6;

    public ModelConfig Config => config;

    private int Ft => config.TemporalCompression;

    public static VideoJob TextToVideo(GenerationRequest request) => new(request);

    /// <summary>The image is the video's first frame.</summary>
    public VideoJob ImageToVideo(GenerationRequest request, Tensor image) =>
        new(request with { Given = GivenFromTimeline(request.Frames, (0, image)) });

    /// <summary>New frames before <paramref name="source"/>; <paramref name="newFrames"/> is 1 + a multiple of f_t.</summary>
    public VideoJob ExtendBackward(GenerationRequest request, Tensor source, int newFrames)
    {
        var context = TailContext(source);
        var frames = newFrames + (int)context.shape[2];
        return new(request with { Frames = frames, Given = GivenFromTimeline(frames, (newFrames, context)) },
            DropTail: (int)context.shape[2], After: source.alias());
    }

    /// <summary>A bridge of <paramref name="bridgeFrames"/> (a multiple of f_t) from A's end to B's start: A + bridge + B.</summary>
    public VideoJob Connect(GenerationRequest request, Tensor a, Tensor b, int bridgeFrames)
    {
        var (head, tail) = (HeadContext(a), TailContext(b));
        var frames = (int)head.shape[2] + bridgeFrames + (int)tail.shape[2];
        return new(request with { Frames = frames, Given = GivenFromTimeline(frames, (0, head), (frames - (int)tail.shape[2], tail)) },
            Before: a.alias(), DropHead: (int)head.shape[2], DropTail: (int)tail.shape[2], After: b.alias());
    }

    /// <summary>SDEdit: the source re-generated under the prompt from its latents noised to <paramref name="strength"/>.</summary>
    public VideoJob Edit(GenerationRequest request, Tensor source, double strength)
    {
        using var latents = Encode(source);
        return EditLatents(request, latents, strength);
    }

    /// <summary>A video's latents: its first 1 + k·f_t frames (a trailing partial group is dropped), encoded.</summary>
    public Tensor Encode(Tensor source)
    {
        var usable = 1 + ((int)source.shape[2] - 1) / Ft * Ft;
        return generator.EncodeLatents(source[.., .., ..usable]);
    }

    /// <summary>SDEdit from the source's latents, as a video's latents artifact holds them.</summary>
    public VideoJob EditLatents(GenerationRequest request, Tensor sourceLatents, double strength) =>
        new(request with { Frames = FrameCount.ToPixel(config, (int)sourceLatents.shape[2]), Edit = new SdeditStart(sourceLatents.alias(), strength) });

    /// <summary>
    /// Latent continuation: <paramref name="newFrames"/> (a multiple of f_t) after a video given as its latents, the
    /// first new chunk continuing from their last frames. The output decodes the source's latents and the new ones
    /// together, or — when the video's own frames are given (<paramref name="sourcePixels"/>: a file, whose latents
    /// were encoded from it) — keeps those frames and decodes only the new part after them.
    /// </summary>
    public VideoJob Continue(GenerationRequest request, Tensor sourceLatents, int newFrames, Tensor? sourcePixels = null)
    {
        var sourceFrames = FrameCount.ToPixel(config, (int)sourceLatents.shape[2]);
        var job = new VideoJob(request with { Frames = sourceFrames + newFrames, Continues = sourceLatents.alias() });
        return sourcePixels is null ? job : job with { Before = sourcePixels[.., .., ..sourceFrames].clone(), DropHead = sourceFrames };
    }

    /// <summary>
    /// A video whose last frame leads into its first. The first chunk is generated (from the image when given); the
    /// timeline then continues f_t·K frames past the end with the video's own first frames, given, and those are dropped.
    /// </summary>
    public VideoJob Loop(GenerationRequest request, Tensor? image, IGenerationProgress? progress = null)
    {
        var (start, firstChunk) = LoopHead(request, image);
        using (start)
        {
            using var headLatents = generator.GenerateChunk(start.Request, firstChunk, null, progress);
            return Loop(request, headLatents);
        }
    }

    /// <summary>A loop's first pass: the job and chunk whose latents <see cref="Loop(GenerationRequest, Tensor)"/> takes.</summary>
    public (VideoJob Start, ChunkSpan Chunk) LoopHead(GenerationRequest request, Tensor? image)
    {
        var start = image is null ? TextToVideo(request) : ImageToVideo(request, image);
        return (start, generator.Plan(start.Request).Chunks[0]);
    }

    /// <summary>The loop itself, from the latents of its first pass (<see cref="LoopHead"/>).</summary>
    public VideoJob Loop(GenerationRequest request, Tensor headLatents)
    {
        var contextFrames = Ft * config.ContextLatentFrames;
        if (request.Frames <= contextFrames || headLatents.shape[2] <= config.ContextLatentFrames)
            throw new ModelException($"A loop needs more than {contextFrames} frames.");
        using var decoded = cat(generator.Decode(headLatents).ToList(), 0);
        using var head = decoded[..contextFrames].permute(1, 0, 2, 3).unsqueeze(0);
        var frames = request.Frames + contextFrames;
        var spans = GivenFromTimeline(frames, (0, head), (request.Frames, head));
        // Frames 0 .. f_t·K decode from latents 0 .. K alone (the decoder is causal): give those exactly as generated,
        // so the frames copied to the end are the frames the video starts with.
        var exactHead = new GivenSpan(0, headLatents[.., .., ..(config.ContextLatentFrames + 1)].clone());
        foreach (var span in spans.Where(s => s.Start == 0)) span.Latents.Dispose();
        return new(request with { Frames = frames, Given = [exactHead, .. spans.Where(s => s.Start > 0)] }, DropTail: contextFrames);
    }

    /// <summary>The last 1 + f_t·m frames of a video continued forward, m ≤ K − 1.</summary>
    private Tensor HeadContext(Tensor source)
    {
        var frames = (int)source.shape[2];
        var length = Math.Min(1 + Ft * (config.ContextLatentFrames - 1), 1 + (frames - 1) / Ft * Ft);
        return source[.., .., (frames - length)..];
    }

    /// <summary>The first f_t·m frames of a video led into, 1 ≤ m ≤ K.</summary>
    private Tensor TailContext(Tensor source)
    {
        var frames = (int)source.shape[2];
        if (frames < Ft) throw new ModelException($"A video to lead into needs at least {Ft} frames; this one has {frames}.");
        return source[.., .., ..Math.Min(Ft * config.ContextLatentFrames, frames / Ft * Ft)];
    }

    private IReadOnlyList<GivenSpan> GivenFromTimeline(int frames, params (int At, Tensor Pixels)[] pieces)
    {
        var (h, w) = (pieces[0].Pixels.shape[3], pieces[0].Pixels.shape[4]);
        using var timeline = zeros([1, 3, frames, h, w]);
        var known = new bool[frames];
        foreach (var (at, pixels) in pieces)
        {
            var length = (int)pixels.shape[2];
            timeline[.., .., at..(at + length)] = pixels;
            Array.Fill(known, true, at, length);
        }
        return generator.GivenFromPixels(timeline, known);
    }
}
