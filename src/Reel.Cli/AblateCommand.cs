using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Reel.Media;
using Reel.Model;
using Reel.Training;
using Reel.World;
using static TorchSharp.torch;

namespace Reel.Cli;

/// <summary>
/// <c>reel ablate</c>: the fast ablation loop. Each variant of <see cref="Ablations.All"/> trains a fresh DiT for the
/// same steps on the same latent cache (the given weights' VAE), then <c>reel eval</c> scores it on the single-object
/// cases; results accumulate in one folder, so a stopped ablation resumes with the first unfinished variant.
/// </summary>
public static class AblateCommand
{
    public const string ResultsFile = "results.json", SettingsFile = "settings.json", TableFile = "ablations.md";

    public static Command Create()
    {
        var only = new Option<string?>("--only") { Description = $"Variants to run, comma-separated (default all: {string.Join(", ", Ablations.All.Select(v => v.Name))})" };
        var steps = new Option<int>("--steps") { Description = "Training steps of every variant", DefaultValueFactory = _ => new AblationSettings().Steps };
        var batch = new Option<int>("--batch") { Description = "Clips per step", DefaultValueFactory = _ => new AblationSettings().BatchSize };
        var clips = new Option<int>("--clips") { Description = "Clips in the latent cache", DefaultValueFactory = _ => new AblationSettings().CachedClips };
        var prompts = new Option<FileInfo>("--prompts") { Description = "Case file; its single-object, one-chunk cases in known words are used", DefaultValueFactory = _ => new FileInfo("eval/heldout.tsv") };
        var cases = new Option<int>("--cases") { Description = "Cases evaluated per variant (one clip each)", DefaultValueFactory = _ => 64 };
        var precision = new Option<string>("--precision") { Description = "Activations while training: auto (measured), float32 or bfloat16", DefaultValueFactory = _ => "auto" };
        var output = new Option<DirectoryInfo?>("--out") { Description = "Ablation folder (default: ~/.cache/reel/ablation-CONFIG)" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the data, initialisation and noise", DefaultValueFactory = _ => 0 };
        var captionEncoder = new Option<DirectoryInfo?>("--caption-encoder")
        {
            Description = "A weights folder whose caption encoder every variant starts from and keeps frozen (only the DiT trains)",
        };
        var model = new ModelOptions();
        var command = new Command("ablate", "Train recipe variants briefly on a narrowed world and compare what reel eval measures")
        {
            only, steps, batch, clips, prompts, cases, precision, output, seed, captionEncoder,
        };
        model.AddTo(command);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            var variants = result.GetValue(only) is { } names ? names.Split(',').Select(n => Ablations.Named(n.Trim())).ToList() : Ablations.All.ToList();
            if (result.GetValue(steps) < 10 || result.GetValue(batch) < 1 || result.GetValue(clips) < result.GetValue(batch))
                throw new ModelException("--steps must be at least 10, --batch at least 1 and --clips at least --batch.");
            var file = result.GetValue(prompts)!;
            if (!file.Exists) throw new MediaException($"{file.FullName}: no such file.");
            var encoderFolder = result.GetValue(captionEncoder);
            if (encoderFolder is { Exists: false }) throw new ModelException($"--caption-encoder {encoderFolder.FullName}: no such folder.");
            using var source = model.Open(result);
            if (source.WeightsHash is null) throw new ModelException("reel ablate needs trained weights for its VAE (--weights, or the shipped ones).");
            var evalCases = EvalCases.Parse(await File.ReadAllTextAsync(file.FullName, cancel), file.Name)
                .Where(c => c.Expected.Objects.Count == 1 && c.Expected.Occluder != true && c.Chunks == 1 && c.KnownWords).Take(result.GetValue(cases)).ToList();
            if (evalCases.Count == 0) throw new ModelException($"{file.FullName} has no single-object, one-chunk cases in known words.");
            var computeType = TrainingPrecision(result.GetValue(precision)!, source.Config, TrainingTarget.Dit, result.GetValue(batch));
            var settings = new AblationSettings
            {
                Steps = result.GetValue(steps), BatchSize = result.GetValue(batch), CachedClips = result.GetValue(clips), Seed = result.GetValue(seed),
                ComputeType = computeType, CaptionEncoderFrom = encoderFolder?.FullName,
            };
            var folder = result.GetValue(output)?.FullName ?? Path.Combine(
                Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reel", $"ablation-{source.Config.Name}");
            using var stop = new StopSignals(cancel);
            var results = Run(new AblationRun(folder, source, settings, evalCases), variants, stop.Token);
            var table = Table(results, settings, evalCases.Count);
            await File.WriteAllTextAsync(Path.Combine(folder, TableFile), table, cancel);
            Console.WriteLine(table);
        }));
        return command;
    }

    /// <summary>The training precision a flag asks for; <c>auto</c> measures a DiT step both ways and takes the faster.</summary>
    internal static ScalarType TrainingPrecision(string flag, ModelConfig config, TrainingTarget target, int batchSize)
    {
        if (flag != "auto") return ModelRuntime.ParseDtype(flag);
        var timing = Trainer.MeasurePrecision(config, target, batchSize);
        Console.Error.WriteLine($"Training step, measured: {timing}.");
        return timing.Faster;
    }

    /// <summary>Settings as written to the folder; a frozen caption encoder's hash only when there is one, so older folders still match.</summary>
    private static readonly JsonSerializerOptions SettingsJson = new(CommandErrors.Json) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private sealed record AblationRun(string Folder, ReelModel Source, AblationSettings Settings, IReadOnlyList<EvalCase> Cases);

    /// <summary>What one variant did: its training and the eval scores of its clips.</summary>
    internal sealed record AblationResult(string Name, string Change, int Steps, double? SamplesPerSecond, double? FinalLoss,
        int Clips, double? Colour, double? Shape, double? Count, double? Motion, double? Presence, double? LatentJump, double Seconds);

    private static List<AblationResult> Run(AblationRun run, IReadOnlyList<AblationVariant> variants, CancellationToken cancel)
    {
        Directory.CreateDirectory(run.Folder);
        var settingsPath = Path.Combine(run.Folder, SettingsFile);
        var captionEncoder = run.Settings.CaptionEncoderFrom is { } donor ? WeightsFolder.ContentHash(donor) : null;
        var settingsJson = JsonSerializer.Serialize(new { run.Settings.Steps, run.Settings.BatchSize, run.Settings.CachedClips, run.Settings.Seed,
            ComputeType = run.Settings.ComputeType.ToString(), Weights = run.Source.WeightsHash, CaptionEncoder = captionEncoder,
            Cases = run.Cases.Select(c => c.Line) }, SettingsJson);
        if (File.Exists(settingsPath) && File.ReadAllText(settingsPath) != settingsJson)
            throw new ModelException($"{run.Folder} holds an ablation with other settings ({settingsPath}): give another --out.");
        File.WriteAllText(settingsPath, settingsJson);
        var resultsPath = Path.Combine(run.Folder, ResultsFile);
        var results = File.Exists(resultsPath) ? JsonSerializer.Deserialize<List<AblationResult>>(File.ReadAllText(resultsPath), CommandErrors.Json)! : [];
        // Variants that only sample reuse the baseline's weights.
        var needed = variants.Any(v => !v.Trains) && variants.All(v => v.Name != Ablations.Baseline) ? variants.Prepend(Ablations.Named(Ablations.Baseline)) : variants;
        foreach (var variant in needed.Distinct())
        {
            if (results.Any(r => r.Name == variant.Name)) continue;
            cancel.ThrowIfCancellationRequested();
            results.Add(Measure(run, variant, cancel));
            File.WriteAllText(resultsPath, JsonSerializer.Serialize(results, CommandErrors.Json));
        }
        return [.. variants.Select(v => results.First(r => r.Name == v.Name))];
    }

    private static AblationResult Measure(AblationRun run, AblationVariant variant, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var weights = Path.Combine(run.Folder, "weights", variant.Name);
        var baseline = Path.Combine(run.Folder, "weights", Ablations.Baseline);
        (double FinalLoss, double SamplesPerSecond)? training = null;
        var cases = run.Cases;
        if (variant.Trains)
        {
            var (loss, speed, firstBatch) = Ablations.Train(variant, run.Source, run.Settings, weights, Path.Combine(run.Folder, "runs", variant.Name),
                LatentCache.DefaultRoot, Console.Error.WriteLine, cancel);
            training = (loss, speed);
            if (variant.Overfit)
                cases = firstBatch.Select((clip, i) => new EvalCase(i + 1, clip.Caption, clip.Spec, 1, null)).ToList();
        }
        else
        {
            // The baseline's weights under the variant's sampling: its EMA folder, or the raw weights it kept beside them.
            var from = variant.RawWeights ? baseline + Ablations.RawSuffix : baseline;
            if (Directory.Exists(weights)) Directory.Delete(weights, true);
            Directory.CreateDirectory(weights);
            foreach (var path in Directory.GetFiles(from)) File.Copy(path, Path.Combine(weights, Path.GetFileName(path)));
            var manifest = WeightsFolder.ReadManifest(weights);
            if (variant.Config is { } change) WeightsFolder.WriteManifest(weights, manifest with { Config = change(manifest.Config) });
        }
        using var model = ReelModel.Load(weights);
        Console.Error.WriteLine($"{variant.Name}: evaluating {cases.Count} cases.");
        var report = EvalCommand.Run(cases, model.Config, model,
            new EvalCommand.EvalSettings(1, Guidance: variant.Guidance, Size: Ablations.Size(model.Config), Expand: !variant.Overfit), cancel);
        var m = report.Generated["all"];
        var result = new AblationResult(variant.Name, variant.Change, variant.Trains ? run.Settings.Steps : 0, Round(training?.SamplesPerSecond),
            Round(training?.FinalLoss, 4), m.Clips, m.Colour, m.Shape, m.Count, m.Motion, m.Presence, m.LatentJump, Math.Round(clock.Elapsed.TotalSeconds));
        Console.Error.WriteLine($"{variant.Name}: colour {m.Colour} shape {m.Shape} motion {m.Motion} presence {m.Presence} latent jump {m.LatentJump} ({result.Seconds} s)");
        return result;
    }

    private static double? Round(double? value, int digits = 1) => value is { } v ? Math.Round(v, digits) : null;

    private static string Table(IReadOnlyList<AblationResult> results, AblationSettings settings, int cases)
    {
        static string F(double? v) => v?.ToString("0.0###", CultureInfo.InvariantCulture) ?? "–";
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{settings.Steps} steps × {settings.BatchSize} clips, {settings.CachedClips} cached clips, {settings.ComputeType} activations; {cases} single-object cases, one clip each.");
        text.AppendLine();
        text.AppendLine("| variant | change | loss | samples/s | colour | shape | count | motion | presence | latent jump |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Name} | {r.Change} | {F(r.FinalLoss)} | {F(r.SamplesPerSecond)} | {F(r.Colour)} | {F(r.Shape)} | {F(r.Count)} | {F(r.Motion)} | {F(r.Presence)} | {F(r.LatentJump)} |");
        return text.ToString();
    }
}
