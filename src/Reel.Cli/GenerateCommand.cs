using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Reel.Abstractions;
using Reel.Media;
using Reel.Model;
using Reel.Requests;
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
        public readonly Option<bool> AnySize = new("--any-size") { Description = "Make a --size beyond the model's pixel budget (4x its largest trained size) instead of refusing it: slow, and far from what it was trained on" };
        public readonly Option<bool> Json = new("--json") { Description = "Print what was done as JSON" };
        public readonly ModelOptions Model = new();
    }

    public static Command Create()
    {
        var o = new Options();
        var command = new Command("generate", "Generate a video from a prompt, optionally from an image or existing videos")
        {
            o.Prompt, o.Output, o.Size, o.Seconds, o.Frames, o.Seed, o.Steps, o.Guidance, o.Solver, o.Image, o.Extend, o.Backward,
            o.Loop, o.Connect, o.Edit, o.Strength, o.Thumbnail, o.Spritesheet, o.NoExpand, o.AnySize, o.Json,
        };
        o.Model.AddTo(command);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(() => RunAsync(o, result, cancel)));
        return command;
    }

    private static async Task RunAsync(Options o, ParseResult result, CancellationToken cancel)
    {
        var request = Request(o, result);
        RequestCompiler.ModeOf(request);
        var output = result.GetValue(o.Output)!.FullName;
        MediaWriter.RequireExtension(output, [".mp4"]);
        var thumbnail = result.GetValue(o.Thumbnail)?.FullName;
        var spritesheet = result.GetValue(o.Spritesheet)?.FullName;
        foreach (var image in new[] { thumbnail, spritesheet }.OfType<string>()) MediaWriter.RequireExtension(image, MediaWriter.ImageExtensions);
        var (config, _) = o.Model.Resolve(result);
        if (request.Width is { } width && request.Height is { } height
            && SizeRule.Choose(config.Name, config.Sizes, config.SizeMultiple, new VideoSize(width, height), request.AnySize).Note is { } note)
            Console.Error.WriteLine(note);
        var inputs = request.Inputs.Select(i => new CompilerInput(null, i.File)).ToList();
        using var compiled = await RequestCompiler.CompileAsync(request, config, inputs, cancel);
        var generation = compiled.Generation;
        var unknownWords = request.Expand ? PromptExpander.Expand(request.Prompt, PromptExpander.SeedFor(request.Seed)).UnknownWords : [];
        if (unknownWords.Count > 0) Console.Error.WriteLine($"Words the model's world does not know (ignored in expansion): {string.Join(", ", unknownWords)}");

        var clock = Stopwatch.StartNew();
        using var model = o.Model.Open(result);
        var loadSeconds = clock.Elapsed.TotalSeconds;
        var generator = new VideoGenerator(model);
        var modes = new VideoModes(generator, config);
        using var progress = ProgressDisplay.Start(!result.GetValue(o.Json) && !Console.IsErrorRedirected, quiet: result.GetValue(o.Json));
        var chunkTimes = new ChunkTimer(progress);
        clock.Restart();
        using var job = Build(compiled, modes, generator, chunkTimes);
        var plan = generator.Plan(job.Request);
        progress.Begin(plan, job.Request.Steps ?? config.DefaultSteps);
        using var latents = generator.GenerateLatents(job.Request, chunkTimes);
        var generateSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        await VideoFiles.WriteAsync(job.Output(generator.Decode(latents).SelectMany(FrameTensors.ToFrames)), job.OutputFrames, config.FrameRate, output, thumbnail, spritesheet, cancel);
        progress.Dispose();

        var report = new GenerateReport(
            ModeName(compiled.Mode), config.Name, model.WeightsHash ?? "fresh", request.Prompt, generation.Prompt, unknownWords, request.Seed, generation.Size.ToString(),
            job.OutputFrames, config.FrameRate, Math.Round(FrameCount.Seconds(config, job.OutputFrames), 3), plan.Chunks.Count, job.Request.Steps ?? config.DefaultSteps,
            job.Request.Guidance ?? config.DefaultGuidance, latents.shape, LatentDigest.Of(latents), output, thumbnail, spritesheet,
            new GenerateTimings(Math.Round(loadSeconds, 3), chunkTimes.Seconds.Select(t => Math.Round(t, 3)).ToArray(),
                Math.Round(generateSeconds, 3), Math.Round(clock.Elapsed.TotalSeconds, 3), BenchCommand.ProcessMemory("VmHWM")));
        if (result.GetValue(o.Json)) Console.WriteLine(JsonSerializer.Serialize(report, CommandErrors.Json));
        else Console.WriteLine($"{output}: {report.Frames} frames {report.Size} at {report.Fps} fps ({report.Seconds} s), " +
            $"{report.Chunks} chunk(s), seed {report.Seed}, {report.Timings.GenerateSeconds:0.0} s\ncaption: {report.Caption}");
    }

    /// <summary>The flags as the request the cluster takes too; the request compiler applies the same rules to both.</summary>
    private static VideoRequest Request(Options o, ParseResult result)
    {
        MediaInput? Local(Option<FileInfo?> option) => result.GetValue(option) is { } file ? MediaInput.Local(file.FullName) : null;
        VideoSize? size = null;
        if (result.GetValue(o.Size) is { } text)
            size = VideoSize.TryParse(text, out var parsed) ? parsed : throw new ModelException($"--size '{text}' is not WxH (e.g. 48x48).");
        return new VideoRequest
        {
            Prompt = result.GetValue(o.Prompt)!, Width = size?.Width, Height = size?.Height,
            Seconds = result.GetValue(o.Seconds), Frames = result.GetValue(o.Frames),
            Seed = result.GetValue(o.Seed) ?? RequestCompiler.RandomSeed(),
            Steps = result.GetValue(o.Steps), Guidance = result.GetValue(o.Guidance), Solver = result.GetValue(o.Solver).ToString().ToLowerInvariant(),
            Expand = !result.GetValue(o.NoExpand), AnySize = result.GetValue(o.AnySize),
            Image = Local(o.Image), Extend = Local(o.Extend), Edit = Local(o.Edit), Strength = result.GetValue(o.Strength),
            Connect = [.. (result.GetValue(o.Connect) ?? []).Select(f => MediaInput.Local(f.FullName))],
            Loop = result.GetValue(o.Loop), Backward = result.GetValue(o.Backward),
        };
    }

    /// <summary>The job; a loop's first pass is generated here first, as a model silo's session does.</summary>
    private static VideoJob Build(CompiledRequest compiled, VideoModes modes, VideoGenerator generator, IGenerationProgress progress)
    {
        if (compiled.Mode != VideoMode.Loop) return RequestCompiler.Build(compiled, modes);
        var (start, chunk) = RequestCompiler.LoopHead(compiled, modes);
        using (start)
        {
            using var head = generator.GenerateChunk(start.Request, chunk, null, progress);
            return RequestCompiler.Build(compiled, modes, head);
        }
    }

    /// <summary>The <c>--json</c> report's name of a mode.</summary>
    private static string ModeName(VideoMode mode) => mode switch
    {
        VideoMode.ImageToVideo => "image",
        VideoMode.Extend => "extend",
        VideoMode.ExtendBackward => "extend-backward",
        VideoMode.Loop => "loop",
        VideoMode.Connect => "connect",
        VideoMode.Edit => "edit",
        _ => "text",
    };

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
