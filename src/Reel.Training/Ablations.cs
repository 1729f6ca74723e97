using System.Diagnostics;
using Reel.Model;
using Reel.World;
using static TorchSharp.torch;

namespace Reel.Training;

/// <summary>
/// One recipe change of the fast ablation loop, measured against the baseline. A variant that does not train reuses
/// the baseline's weights and changes only how they are sampled: its configuration change touches sampling alone.
/// </summary>
/// <param name="Change">What differs from the baseline, in words.</param>
/// <param name="Guidance">Classifier-free guidance at evaluation; null for the configuration's.</param>
/// <param name="RawWeights">Evaluate the trained weights instead of their EMA.</param>
/// <param name="Overfit">Train on one fixed batch and evaluate on its own captions: the loop's sanity check.</param>
public sealed record AblationVariant(string Name, string Change, bool Trains = true,
    Func<ModelConfig, ModelConfig>? Config = null, Func<TrainingSettings, TrainingSettings>? Settings = null,
    double? Guidance = null, bool RawWeights = false, bool Overfit = false);

/// <summary>How every variant of an ablation trains: a fixed number of steps on the narrowed world's latent cache.</summary>
public sealed record AblationSettings
{
    public int Steps { get; init; } = 1500;
    public int BatchSize { get; init; } = 16;

    /// <summary>Clips in the latent cache.</summary>
    public int CachedClips { get; init; } = 8192;

    public ulong Seed { get; init; }
    public ScalarType ComputeType { get; init; } = ScalarType.Float32;

    /// <summary>A weights folder whose caption encoder every variant starts from and keeps (frozen); null trains a fresh one.</summary>
    public string? CaptionEncoderFrom { get; init; }
}

/// <summary>
/// The fast ablation loop: the baseline is the shipped recipe narrowed to one object, no pillar, text to video, one
/// size, trained from scratch for a fixed number of steps on a shared latent cache; each variant changes one thing.
/// </summary>
public static class Ablations
{
    public const string Baseline = "baseline";

    /// <summary>Beside each variant's weights folder (EMA), the raw weights are kept in this one.</summary>
    public const string RawSuffix = "-raw";

    public static IReadOnlyList<AblationVariant> All { get; } =
    [
        new(Baseline, "the shipped recipe, narrowed: cross-attention to the caption, rotary base 10 000 in time, logit-normal t (0, 1), lr 4e-4, EMA 0.998, guidance 3"),
        new("overfit", "16 fixed clips, evaluated on their own captions (sanity check)", Overfit: true),
        new("overfit-absolute", "the overfit check with absolute positions (below)", Overfit: true,
            Config: c => c with { AbsolutePositions = true }),
        new("pooled", "caption pooled into the timestep conditioning instead of cross-attention",
            Config: c => c with { CaptionConditioning = CaptionConditioning.Pooled }),
        new("pooled+cross", "caption pooled into the timestep conditioning and cross-attention",
            Config: c => c with { CaptionConditioning = CaptionConditioning.Both }),
        new("rotary-time-100", "rotary base 100 along time (5 latent frames use more of its frequencies)",
            Config: c => c with { TemporalRotaryBase = 100 }),
        new("absolute-positions", "fixed 3D sin-cos positions added to the tokens besides rotary (relative) ones",
            Config: c => c with { AbsolutePositions = true }),
        new("trial-recipe", "the throwaway trial's conditioning: caption pooled into the timestep conditioning, no cross-attention, absolute positions",
            Config: c => TrialRecipe(c, CaptionConditioning.Pooled)),
        new("trial-recipe+cross", "the trial recipe with cross-attention to the caption's tokens as well (pooled and cross, absolute positions)",
            Config: c => TrialRecipe(c, CaptionConditioning.Both)),
        new("trial-recipe-small", "the trial recipe on a DiT of width 192 and depth 4 (2.7 M parameters): the scaling law's compute-optimal size for ~1e15 FLOPs",
            Config: c => Small(TrialRecipe(c, CaptionConditioning.Pooled))),
        new("trial-recipe-small+cross", "trial-recipe-small with cross-attention to the caption's tokens as well (what several objects need to bind their words)",
            Config: c => Small(TrialRecipe(c, CaptionConditioning.Both))),
        new("deep-patches", "trial-recipe-small+cross on spacetime patches two latent frames deep: half the tokens, each conditioned on both its frames' timesteps",
            Config: c => Small(TrialRecipe(c, CaptionConditioning.Both)) with { PatchFrames = 2 }),
        new("clean-prediction", "trial-recipe-small+cross predicting the clean latents, turned into the velocity (x_t − x₀)/t for the same loss",
            Config: c => Small(TrialRecipe(c, CaptionConditioning.Both)) with { Prediction = Prediction.Clean }),
        new("deep-patches+clean", "deep-patches predicting the clean latents: a 192-wide token cannot make 256 values of noise, but may make 256 of clean latents",
            Config: c => Small(TrialRecipe(c, CaptionConditioning.Both)) with { PatchFrames = 2, Prediction = Prediction.Clean }),
        new("mixed-noise", "trial-recipe-small+cross with noise correlated 0.5 between latent frames, in training and sampling (mixed noise, Ge et al. 2023)",
            Config: c => Small(TrialRecipe(c, CaptionConditioning.Both)) with { NoiseFrameCorrelation = 0.5 }),
        new("all-modes", "every conditioning mode (35% text to video, 20% first frame, 20% continuation, 25% ends)",
            Settings: s => s with { Modes = ConditioningMix.All }),
        new("t-mean-0.5", "noise levels logit-normal around 0.62 (mean 0.5): more steps where layout and motion are decided",
            Settings: s => s with { TimestepMean = 0.5 }),
        new("lr-1e-3", "peak learning rate 1e-3", Settings: s => s with { LearningRate = 1e-3 }),
        new("no-ema", "the raw weights instead of the EMA", Trains: false, RawWeights: true),
        new("guidance-1", "no classifier-free guidance", Trains: false, Guidance: 1),
        new("guidance-6", "guidance 6", Trains: false, Guidance: 6),
        new("shift-1", "no timestep shift at sampling", Trains: false, Config: c => c with { ShiftBase = 1, ShiftMax = 1 }),
        new("shift-3", "sampling shift 3", Trains: false, Config: c => c with { ShiftBase = 3, ShiftMax = 3 }),
    ];

    /// <summary>The throwaway trial's recipe (absolute positions, ../shared/reference/torchsharp.md) with the given caption pathway.</summary>
    private static ModelConfig TrialRecipe(ModelConfig config, CaptionConditioning caption) =>
        config with { CaptionConditioning = caption, AbsolutePositions = true };

    /// <summary>The scaling law's compute-optimal DiT for the ~1e15 FLOPs of an hour's run here (MODEL.md).</summary>
    private static ModelConfig Small(ModelConfig config) => config with { DitWidth = 192, DitDepth = 4, DitHeads = 3 };

    public static AblationVariant Named(string name) =>
        All.FirstOrDefault(v => v.Name == name) ?? throw new ModelException($"Unknown ablation '{name}'. Known: {string.Join(", ", All.Select(v => v.Name))}.");

    /// <summary>The narrowed world's size: the configuration's first.</summary>
    public static VideoSize Size(ModelConfig config) => config.Sizes[0];

    /// <summary>The baseline's training settings with the variant's change.</summary>
    public static TrainingSettings TrainingFor(AblationVariant variant, ModelConfig config, AblationSettings settings)
    {
        var baseline = new TrainingSettings
        {
            Target = TrainingTarget.Dit, Steps = settings.Steps, BatchSize = settings.BatchSize, WarmupSteps = Math.Min(200, settings.Steps / 10),
            World = WorldOptions.SingleObject, Sizes = [Size(config)], Modes = ConditioningMix.TextToVideoOnly,
            CachedClips = settings.CachedClips, ComputeType = settings.ComputeType, Seed = settings.Seed, FixedBatch = variant.Overfit,
            FreezeCaptionEncoder = settings.CaptionEncoderFrom is not null,
        };
        return variant.Settings?.Invoke(baseline) ?? baseline;
    }

    /// <summary>
    /// Trains a fresh DiT and caption encoder of the variant's configuration on <paramref name="source"/>'s VAE, or
    /// continues the run checkpointed in <paramref name="runFolder"/> (every few minutes and when cancelled), and
    /// writes the weights folder; returns the mean loss of the last tenth of the steps and the samples per second of
    /// this process's steps.
    /// </summary>
    public static (double FinalLoss, double SamplesPerSecond, IReadOnlyList<WorldClip> FirstBatch) Train(AblationVariant variant, ReelModel source,
        AblationSettings settings, string weightsFolder, string runFolder, string cacheRoot, Action<string>? log, CancellationToken cancel)
    {
        var checkpoint = Path.Combine(runFolder, TrainingLoop.CheckpointFolder);
        using var trainer = Directory.Exists(checkpoint) ? Trainer.Resume(checkpoint, cacheRoot: cacheRoot, log: log) : Start(variant, source, settings, cacheRoot, log);
        if (trainer.Step > 0) log?.Invoke($"{variant.Name}: resuming at step {trainer.Step}.");
        var (steps, startStep) = (trainer.Settings.Steps, trainer.Step);
        var clock = Stopwatch.StartNew();
        var recent = new Queue<double>();
        TrainingLoop.Run(trainer, runFolder, CheckpointInterval, () => cancel.IsCancellationRequested, p =>
        {
            recent.Enqueue(p.Loss);
            if (recent.Count > 100) recent.Dequeue();
            if (p.Step % 100 == 0) log?.Invoke($"{variant.Name}: step {p.Step}/{steps}, loss {recent.Average():0.0000}, {p.SamplesPerSecond:0.0} samples/s");
        });
        cancel.ThrowIfCancellationRequested();
        var samplesPerSecond = (steps - startStep) * trainer.Settings.BatchSize / clock.Elapsed.TotalSeconds;
        trainer.Model.Save(weightsFolder + RawSuffix);
        trainer.Export(weightsFolder);
        var firstBatch = variant.Overfit ? trainer.ClipsOfStep(0) : [];
        var losses = TrainingLoop.Losses(runFolder);
        trainer.Model.Dispose();
        return (losses.Skip(losses.Count * 9 / 10).Average(), samplesPerSecond, firstBatch);
    }

    /// <summary>Time between an ablation run's checkpoints: what a stopped run loses at most.</summary>
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromMinutes(5);

    /// <summary>A new trainer of the variant: a fresh DiT (and caption encoder, unless one is given) on the source's VAE.</summary>
    private static Trainer Start(AblationVariant variant, ReelModel source, AblationSettings settings, string cacheRoot, Action<string>? log)
    {
        var config = (variant.Config?.Invoke(source.Config) ?? source.Config) with { Name = source.Config.Name };
        var model = ReelModel.Create(config, seed: settings.Seed);
        model.UseVae(source);
        if (settings.CaptionEncoderFrom is { } donorFolder)
        {
            using var donor = ReelModel.Load(donorFolder);
            model.UseCaptionEncoder(donor);
        }
        return Trainer.Start(model, TrainingFor(variant, config, settings), cacheRoot, log);
    }
}
