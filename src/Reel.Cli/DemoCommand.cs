using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Reel.Model;

namespace Reel.Cli;

/// <summary>
/// <c>reel demo</c>: generates a video's latents from a prompt, decodes them, and reports shapes, timings and the
/// latents' digest. The model library end to end, short of writing an MP4.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string>("prompt") { Description = "What the video shows", DefaultValueFactory = _ => "a red ball bouncing" };
        var size = new Option<string?>("--size") { Description = "WxH in pixels (default: the model's first size)" };
        var seconds = new Option<double?>("--seconds") { Description = "Duration; rounded up to 1 + k·f_t frames" };
        var frames = new Option<int?>("--frames") { Description = "Exact frame count, 1 + k·f_t" };
        var seed = new Option<ulong?>("--seed") { Description = "Random seed (chosen and printed when absent)" };
        var steps = new Option<int?>("--steps") { Description = "Denoising steps (default: the model's)" };
        var guidance = new Option<double?>("--guidance") { Description = "Classifier-free guidance scale (default: the model's)" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var model = new ModelOptions();
        var command = new Command("demo", "Generate latents for a prompt and report shapes and timing") { prompt, size, seconds, frames, seed, steps, guidance, json };
        model.AddTo(command);
        command.SetAction(result => CommandErrors.Run(() =>
        {
            var clock = Stopwatch.StartNew();
            using var reel = model.Open(result);
            var loadSeconds = clock.Elapsed.TotalSeconds;
            var config = reel.Config;
            var videoSize = config.DefaultSize;
            if (result.GetValue(size) is { } sizeText && !VideoSize.TryParse(sizeText, out videoSize))
                throw new ModelException($"--size '{sizeText}' is not WxH (e.g. {config.DefaultSize}).");
            if (result.GetValue(frames) is not null && result.GetValue(seconds) is not null)
                throw new ModelException("Give --seconds or --frames, not both.");
            var frameCount = result.GetValue(frames) ?? FrameCount.ForSeconds(config, result.GetValue(seconds) ?? 2.0);
            var request = new GenerationRequest
            {
                Prompt = result.GetValue(prompt)!,
                Size = videoSize,
                Frames = frameCount,
                Seed = result.GetValue(seed) ?? (ulong)Random.Shared.NextInt64(),
                Steps = result.GetValue(steps),
                Guidance = result.GetValue(guidance),
            };
            var generator = new VideoGenerator(reel);
            var plan = generator.Plan(request);
            var chunkSeconds = new List<double>();
            clock.Restart();
            using var latents = generator.GenerateLatents(request, _ =>
            {
                chunkSeconds.Add(clock.Elapsed.TotalSeconds);
                clock.Restart();
            });
            clock.Restart();
            long decodedFrames = 0;
            long[] frameShape = [];
            foreach (var chunk in generator.Decode(latents))
            {
                decodedFrames += chunk.shape[0];
                frameShape = chunk.shape[1..];
            }
            var report = new DemoReport(
                config.Name, reel.WeightsHash ?? "fresh", request.Prompt, request.Seed, request.Size.ToString(), request.Frames,
                config.FrameRate, FrameCount.Seconds(config, request.Frames), latents.shape, plan.Chunks.Count,
                request.Steps ?? config.DefaultSteps, LatentDigest.Of(latents), [decodedFrames, .. frameShape],
                Math.Round(loadSeconds, 3), chunkSeconds.Select(s => Math.Round(s, 3)).ToArray(), Math.Round(clock.Elapsed.TotalSeconds, 3),
                new Dictionary<string, long>
                {
                    ["vae"] = ReelModel.ParameterCount(reel.Vae),
                    ["dit"] = ReelModel.ParameterCount(reel.Dit),
                    ["captionEncoder"] = ReelModel.ParameterCount(reel.CaptionEncoder),
                });
            Console.WriteLine(result.GetValue(json) ? JsonSerializer.Serialize(report, CommandErrors.Json) : report.ToText());
        }));
        return command;
    }

    private sealed record DemoReport(
        string Config, string Weights, string Prompt, ulong Seed, string Size, int Frames, int Fps, double Seconds,
        long[] LatentShape, int Chunks, int Steps, string LatentSha256, long[] DecodedShape,
        double LoadSeconds, double[] ChunkSeconds, double DecodeSeconds, Dictionary<string, long> Parameters)
    {
        public string ToText() => $"""
            model       {Config} ({Weights}); parameters {string.Join(", ", Parameters.Select(p => $"{p.Key} {p.Value:N0}"))}
            request     "{Prompt}" {Size}, {Frames} frames at {Fps} fps ({Seconds:0.###} s), seed {Seed}, {Steps} steps
            latents     [{string.Join(", ", LatentShape)}] in {Chunks} chunk(s), sha256 {LatentSha256[..16]}
            decoded     [{string.Join(", ", DecodedShape)}] (frames, channels, height, width)
            timing      load {LoadSeconds:0.###} s, chunks {string.Join(" + ", ChunkSeconds.Select(s => $"{s:0.###}"))} s, decode {DecodeSeconds:0.###} s
            """;
    }
}
