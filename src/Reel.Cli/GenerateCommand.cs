using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Reel.Media;
using Reel.Model;
using Reel.World;
using static TorchSharp.torch;

namespace Reel.Cli;

/// <summary>
/// <c>reel generate PROMPT -o out.mp4</c>: every mode of the model from the command line, long videos chunk by chunk
/// in this process, the MP4 plus optional thumbnail and spritesheet from the same decoded frames.
/// </summary>
public static class GenerateCommand
{
    private sealed class Options
    {
        public readonly Argument<string> Prompt = new("prompt") { Description = "What the video shows" };
        public readonly Option<FileInfo> Output = new("--output", "-o") { Description = "The MP4 to write", Required = true };
        public readonly Option<string?> Size = new("--size") { Description = "WxH in pixels (default: the model's size closest to the input's aspect ratio, else its first)" };
        public readonly Option<double?> Seconds = new("--seconds") { Description = "Duration of the new video (default 2 s); rounded up to 1 + k·f_t frames" };
        public readonly Option<int?> Frames = new("--frames") { Description = "Exact frame count of a new video, 1 + k·f_t" };
        public readonly Option<ulong?> Seed = new("--seed") { Description = "Random seed (chosen and printed when absent)" };
        public readonly Option<int?> Steps = new("--steps") { Description = "Denoising steps (default: the model's)" };
        public readonly Option<double?> Guidance = new("--guidance") { Description = "Classifier-free guidance scale (default: the model's)" };
        public readonly Option<FlowSolver> Solver = new("--solver") { Description = "euler or heun", DefaultValueFactory = _ => FlowSolver.Euler };
        public readonly Option<FileInfo?> Image = new("--image") { Description = "Image-to-video: the video starts with this image (PNG, JPEG, WebP)" };
        public readonly Option<FileInfo?> Extend = new("--extend") { Description = "Continue this video (forward, or with --backward lead into it)" };
        public readonly Option<bool> Backward = new("--backward") { Description = "With --extend: generate what comes before the video" };
        public readonly Option<bool> Loop = new("--loop") { Description = "The output loops: its last frame leads into its first (alone or with --image)" };
        public readonly Option<FileInfo[]> Connect = new("--connect") { Description = "Two videos A B: output A + a bridge + B", Arity = new ArgumentArity(2, 2), AllowMultipleArgumentsPerToken = true };
        public readonly Option<FileInfo?> Edit = new("--edit") { Description = "Re-generate this video under the prompt (SDEdit)" };
        public readonly Option<double?> Strength = new("--strength") { Description = $"With --edit: how much to change, in (0, 1] (default {VideoModes.DefaultEditStrength})" };
        public readonly Option<FileInfo?> Thumbnail = new("--thumbnail") { Description = "Also write a still of the clip (.png, .jpg, .webp)" };
        public readonly Option<FileInfo?> Spritesheet = new("--spritesheet") { Description = $"Also write a grid of up to {VideoFiles.SpritesheetFrames} evenly spaced frames (.png, .jpg, .webp)" };
        public readonly Option<bool> NoExpand = new("--no-expand") { Description = "Use the prompt as the caption, without expanding it" };
        public readonly Option<bool> Json = new("--json") { Description = "Print what was done as JSON" };
        public readonly ModelOptions Model = new();
    }

    public static Command Create()
    {
        var o = new Options();
        var command = new Command("generate", "Generate a video from a prompt, optionally from an image or existing videos")
        {
            o.Prompt, o.Output, o.Size, o.Seconds, o.Frames, o.Seed, o.Steps, o.Guidance, o.Solver, o.Image, o.Extend, o.Backward,
            o.Loop, o.Connect, o.Edit, o.Strength, o.Thumbnail, o.Spritesheet, o.NoExpand, o.Json,
        };
        o.Model.AddTo(command);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(() => RunAsync(o, result, cancel)));
        return command;
    }

    private static async Task RunAsync(Options o, ParseResult result, CancellationToken cancel)
    {
        var prompt = result.GetValue(o.Prompt)!;
        var mode = ValidateMode(o, result);
        if (string.IsNullOrWhiteSpace(prompt)) throw new ModelException("The prompt is empty: describe what the video shows.");
        var output = result.GetValue(o.Output)!.FullName;
        MediaWriter.RequireExtension(output, [".mp4"]);
        var thumbnail = result.GetValue(o.Thumbnail)?.FullName;
        var spritesheet = result.GetValue(o.Spritesheet)?.FullName;
        foreach (var image in new[] { thumbnail, spritesheet }.OfType<string>()) MediaWriter.RequireExtension(image, MediaWriter.ImageExtensions);
        var inputs = new[] { result.GetValue(o.Image), result.GetValue(o.Extend), result.GetValue(o.Edit) }.OfType<FileInfo>()
            .Concat(result.GetValue(o.Connect) ?? []).Select(f => f.FullName).ToArray();
        var (config, _) = o.Model.Resolve(result);
        var probes = new List<MediaInfo>();
        foreach (var input in inputs) probes.Add(await MediaReader.ProbeAsync(input, cancel: cancel));
        var size = ChooseSize(result.GetValue(o.Size), config, probes.FirstOrDefault());
        foreach (var (input, probe) in inputs.Zip(probes))
            if (probe.Kind == MediaKind.Video && probe.Duration.TotalSeconds > config.MaxSeconds)
                throw new ModelException($"{input} lasts {probe.Duration.TotalSeconds:0.#} s; model '{config.Name}' takes inputs of at most {config.MaxSeconds} s.");

        var seconds = result.GetValue(o.Seconds);
        var exactFrames = result.GetValue(o.Frames);
        if (seconds is not null && exactFrames is not null) throw new ModelException("Give --seconds or --frames, not both.");
        if (seconds is { } s && (!(s > 0) || s > config.MaxSeconds))
            throw new ModelException($"--seconds must be more than 0 and at most {config.MaxSeconds} for model '{config.Name}', got {s}.");
        if (exactFrames is { } f) FrameCount.Require(config, f);
        var frames = exactFrames ?? FrameCount.ForSeconds(config, seconds ?? 2.0);
        if (FrameCount.Seconds(config, frames) > config.MaxSeconds + 1.0)
            throw new ModelException($"{frames} frames is longer than model '{config.Name}' allows ({config.MaxSeconds} s).");

        var seed = result.GetValue(o.Seed) ?? (ulong)Random.Shared.NextInt64();
        var expanded = result.GetValue(o.NoExpand) ? null : PromptExpander.Expand(prompt, PromptExpander.SeedFor(seed));
        if (expanded is { UnknownWords.Count: > 0 })
            Console.Error.WriteLine($"Words the model's world does not know (ignored in expansion): {string.Join(", ", expanded.UnknownWords)}");
        var request = new GenerationRequest
        {
            Prompt = expanded?.Caption ?? prompt, Size = size, Frames = frames, Seed = seed,
            Steps = result.GetValue(o.Steps), Guidance = result.GetValue(o.Guidance), Solver = result.GetValue(o.Solver),
        };
        VideoGenerator.Validate(config, request);

        var clock = Stopwatch.StartNew();
        using var model = o.Model.Open(result);
        var loadSeconds = clock.Elapsed.TotalSeconds;
        var generator = new VideoGenerator(model);
        var modes = new VideoModes(generator, config);
        async Task<Tensor> ReadVideo(string path) =>
            FrameTensors.ToVideo(await MediaReader.ReadVideoAsync(path, size.Width, size.Height, config.FrameRate, cancel: cancel));

        using var progress = ProgressDisplay.Start(!result.GetValue(o.Json) && !Console.IsErrorRedirected);
        var chunkTimes = new ChunkTimer(progress);
        clock.Restart();
        using var job = mode switch
        {
            "image" => modes.ImageToVideo(request, await ReadImage(inputs[0], size, cancel)),
            "loop" => modes.Loop(request, inputs.Length == 1 ? await ReadImage(inputs[0], size, cancel) : null, chunkTimes),
            "extend" => modes.ExtendForward(request, await ReadVideo(inputs[0]), frames - 1),
            "extend-backward" => modes.ExtendBackward(request, await ReadVideo(inputs[0]), frames),
            "connect" => modes.Connect(request, await ReadVideo(inputs[0]), await ReadVideo(inputs[1]), frames - 1),
            "edit" => modes.Edit(request, await ReadVideo(inputs[0]), result.GetValue(o.Strength) ?? VideoModes.DefaultEditStrength),
            _ => VideoModes.TextToVideo(request),
        };
        var plan = generator.Plan(job.Request);
        progress.Begin(plan, job.Request.Steps ?? config.DefaultSteps);
        using var latents = generator.GenerateLatents(job.Request, chunkTimes);
        var generateSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        await VideoFiles.WriteAsync(job.Output(generator.Decode(latents).SelectMany(FrameTensors.ToFrames)), job.OutputFrames, config.FrameRate, output, thumbnail, spritesheet, cancel);
        progress.Dispose();

        var report = new GenerateReport(
            mode, config.Name, model.WeightsHash ?? "fresh", prompt, request.Prompt, expanded?.UnknownWords ?? [], request.Seed, size.ToString(), job.OutputFrames, config.FrameRate,
            Math.Round(FrameCount.Seconds(config, job.OutputFrames), 3), plan.Chunks.Count, job.Request.Steps ?? config.DefaultSteps,
            job.Request.Guidance ?? config.DefaultGuidance, latents.shape, LatentDigest.Of(latents), output, thumbnail, spritesheet,
            new GenerateTimings(Math.Round(loadSeconds, 3), chunkTimes.Seconds.Select(t => Math.Round(t, 3)).ToArray(),
                Math.Round(generateSeconds, 3), Math.Round(clock.Elapsed.TotalSeconds, 3), BenchCommand.ProcessMemory("VmHWM")));
        if (result.GetValue(o.Json)) Console.WriteLine(JsonSerializer.Serialize(report, CommandErrors.Json));
        else Console.WriteLine($"{output}: {report.Frames} frames {report.Size} at {report.Fps} fps ({report.Seconds} s), " +
            $"{report.Chunks} chunk(s), seed {report.Seed}, {report.Timings.GenerateSeconds:0.0} s\ncaption: {report.Caption}");
    }

    /// <summary>The mode the flags ask for, refusing combinations that make no sense.</summary>
    private static string ValidateMode(Options o, ParseResult result)
    {
        var chosen = new (string Name, bool Set)[]
        {
            ("--image", result.GetValue(o.Image) is not null), ("--extend", result.GetValue(o.Extend) is not null),
            ("--connect", result.GetValue(o.Connect) is { Length: > 0 }), ("--edit", result.GetValue(o.Edit) is not null),
        }.Where(m => m.Set).Select(m => m.Name).ToArray();
        var loop = result.GetValue(o.Loop);
        if (chosen.Length > 1) throw new ModelException($"{string.Join(" and ", chosen)} cannot be combined.");
        if (loop && chosen is [not "--image"]) throw new ModelException($"--loop works alone or with --image, not with {chosen[0]}.");
        if (result.GetValue(o.Backward) && chosen is not ["--extend"]) throw new ModelException("--backward needs --extend.");
        if (result.GetValue(o.Strength) is not null && chosen is not ["--edit"]) throw new ModelException("--strength needs --edit.");
        if (result.GetValue(o.Strength) is { } strength && !(strength > 0 && strength <= 1))
            throw new ModelException($"--strength must be in (0, 1], got {strength}.");
        if (chosen is ["--edit"] && (result.GetValue(o.Seconds) is not null || result.GetValue(o.Frames) is not null))
            throw new ModelException("--edit keeps the source's length: drop --seconds/--frames.");
        return (chosen, loop) switch
        {
            (_, true) => "loop",
            (["--image"], _) => "image",
            (["--extend"], _) => result.GetValue(o.Backward) ? "extend-backward" : "extend",
            (["--connect"], _) => "connect",
            (["--edit"], _) => "edit",
            _ => "text",
        };
    }

    private static VideoSize ChooseSize(string? text, ModelConfig config, MediaInfo? input)
    {
        if (text is not null)
            return VideoSize.TryParse(text, out var size) ? size : throw new ModelException($"--size '{text}' is not WxH (e.g. {config.DefaultSize}).");
        if (input is null) return config.DefaultSize;
        var aspect = Math.Log((double)input.Width / input.Height);
        return config.Sizes.MinBy(s => Math.Abs(Math.Log((double)s.Width / s.Height) - aspect));
    }

    private static async Task<Tensor> ReadImage(string path, VideoSize size, CancellationToken cancel) =>
        FrameTensors.ToVideo([await MediaReader.ReadImageAsync(path, size.Width, size.Height, cancel: cancel)]);

    private sealed class ChunkTimer(ProgressDisplay display) : IGenerationProgress
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        public List<double> Seconds { get; } = [];

        public void OnStep(ChunkSpan chunk, int step, int steps) => display.Step(chunk, step, steps);

        public void OnChunk(ChunkSpan chunk)
        {
            Seconds.Add(_clock.Elapsed.TotalSeconds);
            _clock.Restart();
        }
    }

    private sealed record GenerateTimings(double LoadSeconds, double[] ChunkSeconds, double GenerateSeconds, double WriteSeconds, double PeakMemoryMiB);

    private sealed record GenerateReport(
        string Mode, string Config, string Weights, string Prompt, string Caption, IReadOnlyList<string> UnknownWords, ulong Seed, string Size, int Frames, int Fps, double Seconds,
        int Chunks, int Steps, double Guidance, long[] LatentShape, string LatentSha256, string Output, string? Thumbnail,
        string? Spritesheet, GenerateTimings Timings);
}
