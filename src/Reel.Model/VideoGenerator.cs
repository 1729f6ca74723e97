using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>Latent frames [Start, Start + n) of the output's timeline given as <paramref name="Latents"/> [1, C, n, h, w].</summary>
public sealed record GivenSpan(int Start, Tensor Latents, double Sigma = 0.0)
{
    public int End => Start + (int)Latents.shape[2];
}

/// <summary>
/// What to generate. Every mode is this one request: text-to-video gives nothing; image-to-video gives the head;
/// extension gives a head or a tail; loops and connections give both ends; an edit starts from a source (SDEdit).
/// </summary>
public sealed record GenerationRequest
{
    public required string Prompt { get; init; }
    public required VideoSize Size { get; init; }
    public required int Frames { get; init; }
    public required ulong Seed { get; init; }
    public int? Steps { get; init; }
    public double? Guidance { get; init; }
    public FlowSolver Solver { get; init; } = FlowSolver.Euler;

    /// <summary>Given latent frames on the whole video's latent timeline.</summary>
    public IReadOnlyList<GivenSpan> Given { get; init; } = [];

    /// <summary>SDEdit source latents for the whole video's latent timeline, and the strength.</summary>
    public SdeditStart? Edit { get; init; }

    /// <summary>
    /// Latents [1, C, n, h, w] of an existing video this one continues: they open the timeline (<see cref="Frames"/>
    /// counts them) and the chunks start after them, the first continuing from their end (latent continuation).
    /// </summary>
    public Tensor? Continues { get; init; }

    /// <summary>Latent frames already there before the first chunk.</summary>
    public int ContinuesAt => (int)(Continues?.shape[2] ?? 0);
}

/// <summary>Hears of a generation's progress: each denoising step of each chunk, and each finished chunk.</summary>
public interface IGenerationProgress
{
    void OnStep(ChunkSpan chunk, int step, int steps);
    void OnChunk(ChunkSpan chunk);
}

/// <summary>
/// Runs requests on a <see cref="ReelModel"/>: the chunk plan, then chunk after chunk with latent continuation, then
/// one streaming decode. A chunk depends only on the request, its index and the latents before it, so any process
/// holding the same weights can run any chunk and get the same result.
/// </summary>
public sealed class VideoGenerator(ReelModel model)
{
    private ModelConfig Config => model.Config;

    public ChunkPlan Plan(GenerationRequest request)
    {
        Validate(Config, request);
        return ChunkPlanner.Plan(Config, request.Frames, request.Seed, request.ContinuesAt);
    }

    /// <summary>
    /// Generates one chunk's latents [1, C, chunk.Length, h, w]. <paramref name="previous"/> is the video's latents
    /// so far (at least up to chunk.Start + overlap); null for the first chunk.
    /// </summary>
    public Tensor GenerateChunk(GenerationRequest request, ChunkSpan chunk, Tensor? previous, IGenerationProgress? progress = null)
    {
        using var sampling = StartChunk(request, chunk, previous);
        while (!sampling.Done)
            if (ChunkSampling.StepTogether(model.Dit, Config.MaxCaptionTokens, [sampling])[0])
                progress?.OnStep(chunk, sampling.Step, sampling.Steps);
        var latents = sampling.Result();
        progress?.OnChunk(chunk);
        // The chunk's temporaries are freed: give their heap memory back before the next chunk (see NativeMemoryPolicy).
        NativeMemoryPolicy.ReleaseFreedMemory();
        return latents;
    }

    /// <summary>
    /// A chunk ready to be denoised step by step, alone (<see cref="GenerateChunk"/>) or together with other
    /// sessions' chunks (<see cref="ChunkSampling.StepTogether"/>). <paramref name="previous"/> is the video's latents
    /// so far (at least up to chunk.Start + overlap); null for the first chunk.
    /// </summary>
    public ChunkSampling StartChunk(GenerationRequest request, ChunkSpan chunk, Tensor? previous)
    {
        if (chunk.GivenFromPrevious > 0 && (previous is null || previous.shape[2] < chunk.Start + chunk.GivenFromPrevious))
            throw new ModelException($"Chunk {chunk.Index} continues from latent frames {chunk.Start}..{chunk.Start + chunk.GivenFromPrevious} that are not given.");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (h, w) = LatentSize(request.Size);
        long[] shape = [1, Config.LatentChannels, chunk.Length, h, w];
        var values = zeros(shape, device: model.Device);
        var mask = new bool[chunk.Length];
        var sigma = new double[chunk.Length];
        void Give(int start, Tensor latents, double noiseLevel)
        {
            // start is on the video's timeline; copy the part that falls inside this chunk.
            var from = Math.Max(start, chunk.Start);
            var to = Math.Min(start + (int)latents.shape[2], chunk.End);
            for (var f = from; f < to; f++)
            {
                values[.., .., f - chunk.Start] = latents[.., .., f - start].to(model.Device);
                mask[f - chunk.Start] = true;
                sigma[f - chunk.Start] = noiseLevel;
            }
        }
        if (chunk.GivenFromPrevious > 0) Give(chunk.Start, previous![.., .., chunk.Start..(chunk.Start + chunk.GivenFromPrevious)], Config.ContinuationSigma);
        // The request's own given frames win over the handed-over ones: they are what the user asked for.
        foreach (var span in request.Given) Give(span.Start, span.Latents, span.Sigma);

        var edit = request.Edit is null ? null
            : new SdeditStart(request.Edit.Latents[.., .., chunk.Start..chunk.End].to(model.Device), request.Edit.Strength);
        var settings = new SamplerSettings(request.Steps ?? Config.DefaultSteps, FlowMatchingSampler.ShiftFor(Config, Config.DitTokens(chunk.Length, h, w)),
            request.Solver, Config.NoiseFrameCorrelation);
        using var generator = new Generator(chunk.Seed, model.Device);
        var flow = new FlowSampling(shape, new GivenFrames(values, mask, sigma), edit, settings, generator);
        var caption = model.CaptionEncoder.Encode([request.Prompt]);
        var unconditional = model.CaptionEncoder.Encode([""]);
        foreach (var owned in new[] { caption.Tokens, caption.Mask, unconditional.Tokens, unconditional.Mask }) owned.DetachFromDisposeScope();
        return new ChunkSampling(chunk, flow, caption, unconditional, request.Guidance ?? Config.DefaultGuidance);
    }

    /// <summary>Appends a chunk's new frames (dropping the overlap) to the video's latents so far.</summary>
    public static Tensor Stitch(Tensor? previous, ChunkSpan chunk, Tensor chunkLatents)
    {
        if (previous is null) return chunkLatents.alias();
        using var scope = NewDisposeScope();
        return cat([previous[.., .., ..chunk.Start], chunkLatents], 2).MoveToOuterDisposeScope();
    }

    /// <summary>All chunks in this process, one after another.</summary>
    public Tensor GenerateLatents(GenerationRequest request, IGenerationProgress? progress = null)
    {
        var plan = Plan(request);
        var video = request.Continues?.alias();
        foreach (var chunk in plan.Chunks)
        {
            using var latents = GenerateChunk(request, chunk, video, progress);
            var next = Stitch(video, chunk, latents);
            video?.Dispose();
            video = next;
        }
        return video!;
    }

    /// <summary>Frames [T, 3, H, W] in [-1, 1], decoded in one streaming causal pass over the whole video.</summary>
    public IEnumerable<Tensor> Decode(Tensor latents)
    {
        foreach (var pixels in model.DecodeLatents(latents))
        {
            using (pixels) yield return pixels[0].permute(1, 0, 2, 3).clamp(-1, 1).contiguous();
        }
    }

    /// <summary>
    /// Given latent spans from a pixel timeline of the output: the frames in <paramref name="known"/> are in place,
    /// every other frame is zero. A latent frame is given when every pixel frame it covers is known. The causal VAE
    /// makes a latent depend on all frames before it, which is why the whole timeline is encoded and not the pieces.
    /// </summary>
    public IReadOnlyList<GivenSpan> GivenFromPixels(Tensor pixels, bool[] known, double sigma = 0.0)
    {
        var frames = (int)pixels.shape[2];
        if (known.Length != frames) throw new ModelException($"Known-frame mask has {known.Length} entries for {frames} frames.");
        using var scope = NewDisposeScope();
        var mask = tensor(known).view(1, 1, frames, 1, 1);
        var latents = model.EncodeLatents(where(mask, pixels, zeros_like(pixels)));
        var ft = Config.TemporalCompression;
        var latentKnown = Enumerable.Range(0, (int)latents.shape[2])
            .Select(j => j == 0 ? known[0] : Enumerable.Range(1 + (j - 1) * ft, ft).All(f => known[f])).ToArray();
        var spans = new List<GivenSpan>();
        for (var j = 0; j < latentKnown.Length; j++)
        {
            if (!latentKnown[j]) continue;
            var end = j;
            while (end < latentKnown.Length && latentKnown[end]) end++;
            spans.Add(new GivenSpan(j, latents[.., .., j..end].clone().MoveToOuterDisposeScope(), sigma));
            j = end;
        }
        return spans;
    }

    /// <summary>Pixels [1, 3, T, H, W] in [-1, 1] to the normalised latents the DiT works on.</summary>
    public Tensor EncodeLatents(Tensor pixels) => model.EncodeLatents(pixels);

    public (int Height, int Width) LatentSize(VideoSize size) => LatentSize(Config, size);

    private static (int Height, int Width) LatentSize(ModelConfig config, VideoSize size) =>
        (size.Height / config.SpatialCompression, size.Width / config.SpatialCompression);

    /// <summary>Throws a <see cref="ModelException"/> naming what in <paramref name="request"/> the model cannot do.</summary>
    public static void Validate(ModelConfig config, GenerationRequest request)
    {
        var multiple = config.SizeMultiple;
        if (request.Size.Width <= 0 || request.Size.Height <= 0)
            throw new ModelException($"Size {request.Size} must be positive in both dimensions.");
        if (request.Size.Width % multiple != 0 || request.Size.Height % multiple != 0)
            throw new ModelException($"Size {request.Size} is not a multiple of {multiple} in both dimensions for model '{config.Name}'.");
        FrameCount.Require(config, request.Frames);
        // A mode's timeline may carry existing footage as context at both ends beyond the new video's length; a
        // continued video's own frames do not count.
        var context = 2 * config.TemporalCompression * config.ContextLatentFrames;
        var newFrames = request.Frames - (request.ContinuesAt > 0 ? FrameCount.ToPixel(config, request.ContinuesAt) : 0);
        if (newFrames > FrameCount.ForSeconds(config, config.MaxSeconds) + context)
            throw new ModelException($"{FrameCount.Seconds(config, newFrames):0.##} s is longer than model '{config.Name}' allows ({config.MaxSeconds} s).");
        if (request.Steps is < 1) throw new ModelException($"Steps must be at least 1, got {request.Steps}.");
        if (request.Guidance is < 0 or > 50) throw new ModelException($"Guidance must be between 0 and 50, got {request.Guidance}.");
        var latentFrames = FrameCount.ToLatent(config, request.Frames);
        var (h, w) = LatentSize(config, request.Size);
        foreach (var span in request.Given)
        {
            if (span.Start < 0 || span.End > latentFrames)
                throw new ModelException($"Given latent frames {span.Start}..{span.End} fall outside the video's {latentFrames}.");
            if (span.Latents.shape[1] != config.LatentChannels || span.Latents.shape[3] != h || span.Latents.shape[4] != w)
                throw new ModelException("Given latents do not match the requested size.");
        }
        if (request.Continues is { } continues && (request.ContinuesAt >= latentFrames || continues.shape[1] != config.LatentChannels
                || continues.shape[3] != h || continues.shape[4] != w))
            throw new ModelException("The continued video does not match the requested size, or leaves nothing to generate.");
        if (request.Edit is { } edit && (edit.Latents.shape[2] != latentFrames || edit.Latents.shape[3] != h || edit.Latents.shape[4] != w))
            throw new ModelException("The edit source does not match the requested size and length.");
    }
}
