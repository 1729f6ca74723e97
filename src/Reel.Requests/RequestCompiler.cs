using Reel.Abstractions;
using Reel.Media;
using Reel.Model;
using Reel.World;
using static TorchSharp.torch;

namespace Reel.Requests;

/// <summary>The user-facing modes; a request is exactly one of them.</summary>
public enum VideoMode { TextToVideo, ImageToVideo, Extend, ExtendBackward, Loop, Connect, Edit }

/// <summary>
/// One input of a request as the compiler reads it: a video's exact latents, or a media file on disk (with latents, the
/// same video's file, read only to describe it).
/// </summary>
public sealed record CompilerInput(Tensor? Latents, string? Path) : IDisposable
{
    public void Dispose() => Latents?.Dispose();
}

/// <summary>
/// A request with every rule applied: its mode, the model's request (caption, size, frames of the new part, seed,
/// steps, guidance, solver), the edit strength, and its inputs as tensors at the output size — latents where the input
/// brought them, else frames [1, 3, T, H, W] (an image as one frame).
/// </summary>
public sealed class CompiledRequest(VideoMode mode, GenerationRequest generation, double strength, IReadOnlyList<(Tensor? Latents, Tensor? Pixels)> sources)
    : IDisposable
{
    public VideoMode Mode { get; } = mode;
    public GenerationRequest Generation { get; } = generation;
    public double Strength { get; } = strength;
    public IReadOnlyList<(Tensor? Latents, Tensor? Pixels)> Sources { get; } = sources;

    public void Dispose()
    {
        foreach (var (latents, pixels) in Sources)
        {
            latents?.Dispose();
            pixels?.Dispose();
        }
    }
}

/// <summary>
/// The one place a request becomes a job (docs/contracts.md, "Requests"). The CLI (<c>reel generate</c>) and the
/// cluster (a model silo's session) both call it, so every mode is reachable both ways and the same request and seed
/// give the same latents either way: one default duration, one size rule, one duration rule, one mode switch.
/// </summary>
public static class RequestCompiler
{
    /// <summary>A video that names no length is this long.</summary>
    public const double DefaultSeconds = 2;

    /// <summary>The longest prompt, in characters (the hosted Videos API's limit).</summary>
    public const int MaxPromptLength = 4000;

    /// <summary>The largest seed: 2^53 − 1, the largest integer a JavaScript number (the SDK's, the page's) holds exactly.</summary>
    public const ulong MaxSeed = (1UL << 53) - 1;

    /// <summary>A seed for a request that names none.</summary>
    public static ulong RandomSeed() => (ulong)Random.Shared.NextInt64((long)MaxSeed + 1);

    /// <summary>The request's mode; throws a <see cref="ModelException"/> naming a combination that makes no sense.</summary>
    public static VideoMode ModeOf(VideoRequest request)
    {
        string[] modes = [.. new (string Name, bool Set)[]
        {
            ("an image", request.Image is not null), ("an extension", request.Extend is not null),
            ("an edit", request.Edit is not null), ("a connection", request.Connect.Count > 0),
        }.Where(m => m.Set).Select(m => m.Name)];
        if (modes.Length > 1) throw new ModelException($"A request is one of image-to-video, extension, edit or connection, not {string.Join(" and ", modes)}.");
        if (request.Loop && modes is [not "an image"]) throw new ModelException($"A loop is made from a prompt or an image, not {modes[0]}.");
        if (request.Connect.Count is not (0 or 2)) throw new ModelException($"A connection joins two videos, got {request.Connect.Count}.");
        if (request.Backward && request.Extend is null) throw new ModelException("Only an extension can go backward.");
        if (request.Strength is { } strength && (request.Edit is null || !(strength > 0 && strength <= 1)))
            throw new ModelException($"Strength applies to edits and is in (0, 1], got {strength}.");
        if (request.Edit is not null && (request.Seconds is not null || request.Frames is not null))
            throw new ModelException("An edit keeps its source's length: give no seconds or frames.");
        if (request.Loop) return VideoMode.Loop;
        if (request.Image is not null) return VideoMode.ImageToVideo;
        if (request.Extend is not null) return request.Backward ? VideoMode.ExtendBackward : VideoMode.Extend;
        if (request.Edit is not null) return VideoMode.Edit;
        return request.Connect.Count == 2 ? VideoMode.Connect : VideoMode.TextToVideo;
    }

    /// <summary>Whether the request's input at <paramref name="index"/> is read to be described (the prompt expansion's input).</summary>
    public static bool Describes(VideoRequest request, int index) => request.Expand && index == 0;

    /// <summary>Whether <paramref name="input"/> is best read as latents (an extension forward or an edit works on them).</summary>
    public static bool WantsLatents(VideoRequest request, MediaInput input) =>
        (input == request.Extend && !request.Backward) || input == request.Edit;

    /// <summary>
    /// The model's request (prompt expanded unless asked not to) at the requested size, else <paramref name="inputSize"/>,
    /// else the model's default; throws a <see cref="ModelException"/> naming what the model cannot do. Its frame count
    /// is the new part's: a whole video, an extension or a bridge (1 + k·f_t).
    /// </summary>
    public static GenerationRequest Generation(VideoRequest request, ModelConfig config, VideoSize? inputSize = null)
    {
        ModeOf(request);
        if (string.IsNullOrWhiteSpace(request.Prompt)) throw new ModelException("The prompt is empty: describe what the video shows.");
        if (request.Prompt.Length > MaxPromptLength)
            throw new ModelException($"The prompt is {request.Prompt.Length} characters long; at most {MaxPromptLength} are read.");
        if ((request.Width is null) != (request.Height is null)) throw new ModelException("Give both width and height, or neither.");
        if (request.Frames is not null && request.Seconds is not null) throw new ModelException("Give frames or seconds, not both.");
        if (request.Seconds is { } seconds && !(seconds > 0 && seconds <= config.MaxSeconds))
            throw new ModelException($"Seconds must be more than 0 and at most {config.MaxSeconds} for model '{config.Name}', got {seconds}.");
        if (request.Frames is { } frames) FrameCount.Require(config, frames);
        if (!Enum.TryParse<FlowSolver>(request.Solver, ignoreCase: true, out var solver))
            throw new ModelException($"Solver '{request.Solver}' is not euler or heun.");
        var generation = new GenerationRequest
        {
            Prompt = Caption(request), Seed = request.Seed,
            Size = RequestedSize(request) is { } asked ? SizeRule.Choose(config.Name, config.Sizes, config.SizeMultiple, asked, request.AnySize).Size
                : inputSize ?? config.DefaultSize,
            Frames = request.Frames ?? FrameCount.ForSeconds(config, SecondsOf(request)),
            Steps = request.Steps, Guidance = request.Guidance, Solver = solver,
        };
        VideoGenerator.Validate(config, generation);
        return generation;
    }

    /// <summary>
    /// The caption the model is given: the prompt expanded (unless asked not to) with what it leaves open taken from
    /// <paramref name="shown"/>, what the request's input frames show, then from the seed.
    /// </summary>
    public static string Caption(VideoRequest request, SceneSpec? shown = null) =>
        request.Expand ? PromptExpander.Expand(request.Prompt, PromptExpander.SeedFor(request.Seed), shown).Caption : request.Prompt;

    /// <summary>The length of the request's new part in seconds: its own, else <see cref="DefaultSeconds"/>.</summary>
    public static double SecondsOf(VideoRequest request) => request.Seconds ?? DefaultSeconds;

    /// <summary>
    /// What a video reads until its session has planned it: the size and length <see cref="Generation"/> will choose,
    /// where the request and the model it goes to decide them — the request's size, else (no input to take it from)
    /// the model's default; the seconds asked for, else the default, for a video as long as asked (an extension, a
    /// connection and an edit take their length from their sources). Null where only the inputs tell, or no model
    /// has described itself yet.
    /// </summary>
    public static (string? Size, double? Seconds) Expected(VideoRequest request, ServedModel? model)
    {
        // A served model lists its sizes as its configuration does: the default first.
        var size = RequestedSize(request)?.ToString() ?? (request.Inputs.Any() ? null : model?.Sizes[0]);
        var ownLength = request.Extend is null && request.Edit is null && request.Connect.Count == 0 && request.Frames is null;
        return (size, ownLength ? SecondsOf(request) : null);
    }

    private static VideoSize? RequestedSize(VideoRequest request) =>
        request.Width is { } width && request.Height is { } height ? new VideoSize(width, height) : null;

    /// <summary>The model's size whose aspect ratio is nearest a <paramref name="width"/> × <paramref name="height"/> input's.</summary>
    public static VideoSize NearestSize(ModelConfig config, int width, int height) => SizeRule.Nearest(config.Sizes, new VideoSize(width, height));

    /// <summary>
    /// Applies the rules and reads the inputs (given in <see cref="VideoRequest.Inputs"/> order) at the output size.
    /// Throws <see cref="ModelException"/> or <see cref="MediaException"/> for what the model cannot use.
    /// </summary>
    public static async Task<CompiledRequest> CompileAsync(VideoRequest request, ModelConfig config, IReadOnlyList<CompilerInput> inputs,
        CancellationToken cancel)
    {
        var mode = ModeOf(request);
        VideoSize? inputSize = null;
        if (inputs.FirstOrDefault() is { } first)
        {
            if (first.Latents is { } firstLatents) inputSize = SizeOf(config, firstLatents);
            else
            {
                var info = await MediaReader.ProbeAsync(first.Path!, cancel: cancel);
                inputSize = NearestSize(config, info.Width, info.Height);
            }
        }
        foreach (var input in inputs.Where(i => i.Path is not null))
        {
            var info = await MediaReader.ProbeAsync(input.Path!, cancel: cancel);
            if (info.Kind == MediaKind.Video && info.Duration.TotalSeconds > config.MaxSeconds)
                throw new ModelException($"An input lasts {info.Duration.TotalSeconds:0.#} s; model '{config.Name}' takes inputs of at most {config.MaxSeconds} s.");
        }
        var generation = Generation(request, config, inputSize);
        var size = generation.Size;
        if (inputs.FirstOrDefault()?.Latents is { } latents && SizeOf(config, latents) != size)
            throw new ModelException($"The video keeps its size {SizeOf(config, latents)}; {size} was asked for.");
        var sources = new List<(Tensor?, Tensor?)>();
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                var input = inputs[i];
                // The described input is read as frames even where its latents are what the model takes.
                var describe = Describes(request, i);
                IReadOnlyList<RgbFrame>? frames = input.Path is not null && (input.Latents is null || describe)
                    ? request.Image is not null
                        ? [await MediaReader.ReadImageAsync(input.Path, size.Width, size.Height, cancel: cancel)]
                        : await MediaReader.ReadVideoAsync(input.Path, size.Width, size.Height, config.FrameRate, cancel: cancel)
                    : null;
                sources.Add(input.Latents is { } kept ? (kept.alias(), null) : (null, FrameTensors.ToVideo(frames!)));
                if (describe && frames is not null)
                    generation = generation with { Prompt = Caption(request, ClipDescription.Of(Described(mode, frames, config), config.FrameRate)) };
            }
        }
        catch
        {
            foreach (var (l, p) in sources)
            {
                l?.Dispose();
                p?.Dispose();
            }
            throw;
        }
        return new CompiledRequest(mode, generation, request.Strength ?? VideoModes.DefaultEditStrength, sources);
    }

    /// <summary>A loop's first pass (made once, then given to <see cref="Build"/>): its job and chunk.</summary>
    public static (VideoJob Start, ChunkSpan Chunk) LoopHead(CompiledRequest compiled, VideoModes modes) =>
        modes.LoopHead(compiled.Generation, compiled.Sources.FirstOrDefault().Pixels);

    /// <summary>
    /// The job: the request as the model's one conditioning mechanism. A loop needs its first pass's latents
    /// (<paramref name="loopHead"/>, from <see cref="LoopHead"/>). Runs where the model runs (its thread).
    /// </summary>
    public static VideoJob Build(CompiledRequest compiled, VideoModes modes, Tensor? loopHead = null)
    {
        var job = JobOf(compiled, modes, loopHead);
        try
        {
            VideoGenerator.Validate(modes.Config, job.Request);
            return job;
        }
        catch
        {
            job.Dispose();
            throw;
        }
    }

    private static VideoJob JobOf(CompiledRequest compiled, VideoModes modes, Tensor? loopHead)
    {
        var (generation, sources) = (compiled.Generation, compiled.Sources);
        Tensor Latents(int i) => sources[i].Latents?.alias() ?? modes.Encode(sources[i].Pixels!);
        Tensor Pixels(int i) => sources[i].Pixels ?? throw new ModelException("This mode needs the input's frames.");
        switch (compiled.Mode)
        {
            case VideoMode.Loop:
                return modes.Loop(generation, loopHead ?? throw new ModelException("A loop is built from its first pass."));
            case VideoMode.ImageToVideo:
                return modes.ImageToVideo(generation, Pixels(0));
            case VideoMode.Extend:
            {
                using var source = Latents(0);
                return modes.Continue(generation, source, generation.Frames - 1, sources[0].Pixels);
            }
            case VideoMode.ExtendBackward:
                return modes.ExtendBackward(generation, Pixels(0), generation.Frames);
            case VideoMode.Edit:
            {
                using var source = Latents(0);
                return modes.EditLatents(generation, source, compiled.Strength);
            }
            case VideoMode.Connect:
                return modes.Connect(generation, Pixels(0), Pixels(1), generation.Frames - 1);
            default:
                return VideoModes.TextToVideo(generation);
        }
    }

    /// <summary>
    /// The frames of the first input whose content the new video continues: a forward extension and a connection go on
    /// from its last chunk's worth of frames, a backward extension leads into its first; an image and an edit's source
    /// are described whole.
    /// </summary>
    private static IReadOnlyList<RgbFrame> Described(VideoMode mode, IReadOnlyList<RgbFrame> frames, ModelConfig config)
    {
        var chunk = Math.Min(frames.Count, FrameCount.ToPixel(config, config.ChunkLatentFrames));
        return mode switch
        {
            VideoMode.Extend or VideoMode.Connect => frames.Skip(frames.Count - chunk).ToArray(),
            VideoMode.ExtendBackward => frames.Take(chunk).ToArray(),
            _ => frames,
        };
    }

    private static VideoSize SizeOf(ModelConfig config, Tensor latents) =>
        new((int)latents.shape[4] * config.SpatialCompression, (int)latents.shape[3] * config.SpatialCompression);
}
