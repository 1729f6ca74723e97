using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Reel.Media;
using Reel.Model;
using Reel.Training;
using Reel.World;
using static TorchSharp.torch;

namespace Reel.Cli;

/// <summary>
/// <c>reel eval</c>: generates every case of a prompt file (expanded as <c>reel generate</c> would), reads the clips
/// with the tracker, and scores them against the case's attributes — beside ground-truth clips of the same cases,
/// the tracker's ceiling. Seed of case i (0-based, file order), repeat k: 1000·i + k.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var prompts = new Option<FileInfo>("--prompts") { Description = "Cases: 'prompt<TAB>attributes' per line", Required = true };
        var seeds = new Option<int>("--seeds") { Description = "Clips per case", DefaultValueFactory = _ => 2 };
        var json = new Option<FileInfo?>("--json") { Description = "Also write every score as JSON here" };
        var groundTruth = new Option<bool>("--ground-truth") { Description = "Only score ground-truth clips (no model)" };
        var vaeOnly = new Option<bool>("--vae-only") { Description = "Score ground-truth clips and their VAE round trip, generate nothing (the latent space's ceiling)" };
        var steps = new Option<int?>("--steps") { Description = "Denoising steps (default: the model's)" };
        var strips = new Option<DirectoryInfo?>("--strips") { Description = "Write each case's first clip as a PNG strip here: ground truth above, generated below" };
        var model = new ModelOptions();
        var command = new Command("eval", "Measure how well generated clips follow their prompts and the world's physics")
        {
            prompts, seeds, json, groundTruth, vaeOnly, steps, strips, Cases(),
        };
        model.AddTo(command);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            var file = result.GetValue(prompts)!;
            if (!file.Exists) throw new MediaException($"{file.FullName}: no such file.");
            IReadOnlyList<EvalCase> cases;
            try
            {
                cases = EvalCases.Parse(await File.ReadAllTextAsync(file.FullName, cancel), file.Name);
            }
            catch (FormatException e)
            {
                throw new ModelException(e.Message);
            }
            if (cases.Count == 0) throw new ModelException($"{file.FullName} holds no cases.");
            var repeats = result.GetValue(seeds);
            if (repeats < 1) throw new ModelException("--seeds must be at least 1.");
            var (config, _) = model.Resolve(result);
            using var reel = result.GetValue(groundTruth) ? null : model.Open(result);
            var stripFolder = result.GetValue(strips)?.FullName;
            if (stripFolder is not null) Directory.CreateDirectory(stripFolder);
            var report = Run(cases, reel?.Config ?? config, reel,
                new EvalSettings(repeats, result.GetValue(steps), Strips: stripFolder, Generate: !result.GetValue(vaeOnly)), cancel);
            Console.WriteLine(report.ToText());
            if (result.GetValue(json) is { } path) await File.WriteAllTextAsync(path.FullName, JsonSerializer.Serialize(report, CommandErrors.Json), cancel);
        }));
        return command;
    }

    /// <summary><c>reel eval cases</c>: writes an evaluation file drawn from a seed (a held-out set).</summary>
    private static Command Cases()
    {
        var count = new Option<int>("--count") { Description = "Number of cases", DefaultValueFactory = _ => 240 };
        var seed = new Option<ulong>("--seed") { Description = "Seed the cases are drawn from", DefaultValueFactory = _ => 0 };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "File to write (default: standard output)" };
        var command = new Command("cases", "Write an evaluation file of cases drawn from a seed") { count, seed, output };
        command.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            if (result.GetValue(count) is < 1 or > 100_000) throw new ModelException("--count must be 1 to 100000.");
            var text = EvalCases.Write(result.GetValue(count), result.GetValue(seed));
            if (result.GetValue(output) is { } file) await File.WriteAllTextAsync(file.FullName, text, cancel);
            else Console.Write(text);
        }));
        return command;
    }

    /// <summary>How a run evaluates: clips per case, and what overrides the model's defaults.</summary>
    /// <param name="Size">Every case at this size instead of its own (a narrowed experiment trains one size).</param>
    /// <param name="Strips">Folder for each case's first clip as a PNG strip.</param>
    /// <param name="Generate">False scores only the ground truth and its VAE round trip.</param>
    /// <param name="Expand">Expand each prompt as <c>reel generate</c> does; false samples the prompt itself as the caption
    /// (the overfit check, whose prompts are its training captions word for word).</param>
    internal sealed record EvalSettings(int Repeats, int? Steps = null, double? Guidance = null, VideoSize? Size = null, string? Strips = null,
        bool Generate = true, bool Expand = true);

    /// <summary>
    /// Scores every case's clips: generated by the model (when there is one), the ground truth, and the ground truth
    /// after the VAE's round trip (encode then decode) — the ceiling the latent space leaves the DiT.
    /// </summary>
    internal static EvalReport Run(IReadOnlyList<EvalCase> cases, ModelConfig config, ReelModel? model, EvalSettings settings, CancellationToken cancel)
    {
        var generator = model is null || !settings.Generate ? null : new VideoGenerator(model);
        var results = new List<CaseResult>();
        var psnr = new List<double>();
        var clock = Stopwatch.StartNew();
        using var log = Console.IsErrorRedirected ? new ProgressLog("cases", cases.Count) : null;
        for (var i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            var size = settings.Size ?? (c.Size is { } s ? new VideoSize(s.Width, s.Height) : config.DefaultSize);
            var latentFrames = config.ChunkLatentFrames + (c.Chunks - 1) * (config.ChunkLatentFrames - config.OverlapLatentFrames);
            var frames = FrameCount.ToPixel(config, latentFrames);
            var latentBoundaries = Enumerable.Range(1, latentFrames - 1).Select(l => FrameCount.ToPixel(config, l)).ToArray();
            var clips = new List<ClipResult>();
            for (var k = 0; k < settings.Repeats; k++)
            {
                cancel.ThrowIfCancellationRequested();
                var seed = (ulong)(1000 * i + k);
                var caption = settings.Expand ? PromptExpander.Expand(c.Prompt, PromptExpander.SeedFor(seed)).Caption : c.Prompt;
                var plan = ChunkPlanner.Plan(config, frames, seed);
                var boundaries = plan.Chunks.Skip(1).Select(ch => FrameCount.ToPixel(config, ch.Start + ch.GivenFromPrevious)).ToArray();
                ClipScores Score(IReadOnlyList<RgbFrame> clip) =>
                    ClipEvaluation.Score(Tracker.Track(clip), c.Expected, config.FrameRate, boundaries, latentBoundaries);
                // The truth: the case's attributes, the rest filled from the seed, rendered exactly.
                var truthSpec = ProceduralWorld.Complete(c.Expected, new WorldRandom(seed));
                var truth = ProceduralWorld.Render(truthSpec, seed, size.Width, size.Height, frames, config.FrameRate);
                ClipScores? generatedScores = null, roundTripScores = null;
                if (model is not null)
                {
                    var (roundTrip, decibels) = RoundTrip(model, truth.Frames);
                    roundTripScores = Score(roundTrip);
                    psnr.Add(decibels);
                }
                if (generator is not null)
                {
                    var request = new GenerationRequest
                    {
                        Prompt = caption, Size = size, Frames = frames, Seed = seed, Steps = settings.Steps, Guidance = settings.Guidance,
                    };
                    using var latents = generator.GenerateLatents(request);
                    var generated = generator.Decode(latents).SelectMany(chunk => { using (chunk) return FrameTensors.ToFrames(chunk).ToList(); }).ToList();
                    generatedScores = Score(generated);
                    if (settings.Strips is { } strips && k == 0) WriteStrip(Path.Combine(strips, $"line{c.Line:D3}.png"), truth.Frames, generated);
                }
                clips.Add(new ClipResult(seed, caption, generatedScores, Score(truth.Frames), roundTripScores));
            }
            results.Add(new CaseResult(c.Line, c.Prompt, c.KnownWords, c.Expected.Objects.Count, c.Expected.Occluder == true, c.Chunks, size.ToString(), clips));
            if (log is null) Console.Error.Write($"\r{i + 1}/{cases.Count} cases, {clock.Elapsed.TotalSeconds:0} s");
            else log.Done(i + 1, $"case {i + 1} (line {c.Line})");
        }
        if (!Console.IsErrorRedirected) Console.Error.WriteLine();
        return new EvalReport(config.Name, model?.WeightsHash ?? (model is null ? "none" : "fresh"), settings.Repeats, results,
            Summary(results, c => c.Generated), Summary(results, c => c.GroundTruth), Summary(results, c => c.RoundTrip),
            psnr.Count > 0 ? Math.Round(psnr.Average(), 2) : null);
    }

    /// <summary>Nine evenly spaced frames of the ground truth above the same frames of the generated clip.</summary>
    private static void WriteStrip(string path, IReadOnlyList<RgbFrame> truth, IReadOnlyList<RgbFrame> generated)
    {
        var picks = RgbFrame.EvenlySpaced(truth.Count, 9);
        var frames = picks.Select(i => truth[i]).Concat(picks.Select(i => generated[i])).ToList();
        MediaWriter.WriteImageAsync(path, RgbFrame.Grid(frames, picks.Length)).GetAwaiter().GetResult();
    }

    /// <summary>A ground-truth clip after the VAE's encode-decode round trip, and its PSNR (dB, pixels in [0, 255]).</summary>
    private static (IReadOnlyList<RgbFrame> Frames, double Psnr) RoundTrip(ReelModel model, IReadOnlyList<RgbFrame> frames)
    {
        using var scope = NewDisposeScope();
        var video = FrameTensors.ToVideo(frames);
        using var latents = model.EncodeLatents(video);
        var decoded = cat(model.DecodeLatents(latents).ToList(), 2).clamp(-1, 1);
        var mse = ((decoded - video) * 127.5).square().mean().item<float>();
        return (FrameTensors.ToFrames(decoded[0].permute(1, 0, 2, 3).contiguous()).ToList(), 10 * Math.Log10(255.0 * 255.0 / Math.Max(mse, 1e-10)));
    }

    private static Dictionary<string, MetricSummary> Summary(IReadOnlyList<CaseResult> cases, Func<ClipResult, ClipScores?> pick)
    {
        MetricSummary Of(IEnumerable<CaseResult> subset)
        {
            var scores = subset.SelectMany(c => c.Clips).Select(pick).OfType<ClipScores>().ToArray();
            double? Mean(Func<ClipScores, double?> metric)
            {
                var values = scores.Select(metric).OfType<double>().ToArray();
                return values.Length == 0 ? null : Math.Round(values.Average(), 1);
            }
            return new MetricSummary(scores.Length, Mean(s => s.Colour), Mean(s => s.Shape), Mean(s => s.Count), Mean(s => s.Motion),
                Mean(s => s.Presence), Mean(s => s.Permanence), Mean(s => s.JoinJump), Mean(s => s.LatentJump));
        }
        return new Dictionary<string, MetricSummary>
        {
            ["all"] = Of(cases),
            ["knownWords"] = Of(cases.Where(c => c.KnownWords)),
            ["newWords"] = Of(cases.Where(c => !c.KnownWords)),
            ["singleObject"] = Of(cases.Where(c => c.Objects == 1 && !c.Occluder && c.Chunks == 1)),
            ["multiChunk"] = Of(cases.Where(c => c.Objects == 1 && c.Chunks > 1)),
            ["multiObject"] = Of(cases.Where(c => c.Objects > 1)),
            ["occlusion"] = Of(cases.Where(c => c.Occluder)),
        };
    }

    internal sealed record ClipResult(ulong Seed, string Caption, ClipScores? Generated, ClipScores GroundTruth, ClipScores? RoundTrip);

    internal sealed record CaseResult(int Line, string Prompt, bool KnownWords, int Objects, bool Occluder, int Chunks, string Size, List<ClipResult> Clips);

    internal sealed record MetricSummary(int Clips, double? Colour, double? Shape, double? Count, double? Motion, double? Presence,
        double? Permanence, double? JoinJump, double? LatentJump);

    /// <param name="RoundTrip">The ground truth after the VAE's round trip: what the latent space keeps.</param>
    internal sealed record EvalReport(string Config, string Weights, int Seeds, List<CaseResult> Cases,
        Dictionary<string, MetricSummary> Generated, Dictionary<string, MetricSummary> GroundTruth, Dictionary<string, MetricSummary> RoundTrip,
        double? VaePsnr)
    {
        public string ToText()
        {
            static string F(double? v) => v is null ? "     -" : $"{v,6:0.0}";
            var lines = new List<string>
            {
                $"{Cases.Count} cases × {Seeds} seeds, model {Config} ({Weights})",
                "                               clips  colour  shape  count  motion presence permanence join latent-jump",
            };
            foreach (var (name, summary) in new[] { ("generated", Generated), ("ground truth", GroundTruth), ("vae round trip", RoundTrip) })
                foreach (var (split, m) in summary.Where(s => s.Value.Clips > 0))
                    lines.Add($"{name + " " + split,-30} {m.Clips,5} {F(m.Colour)} {F(m.Shape)} {F(m.Count)} {F(m.Motion)} {F(m.Presence)}    {F(m.Permanence)} {F(m.JoinJump)} {F(m.LatentJump)}");
            if (VaePsnr is { } psnr) lines.Add($"VAE reconstruction PSNR on ground-truth clips: {psnr:0.00} dB");
            return string.Join('\n', lines);
        }
    }
}
