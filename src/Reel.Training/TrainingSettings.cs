using Reel.Model;
using Reel.World;
using static TorchSharp.torch;

namespace Reel.Training;

public enum TrainingTarget { Vae, Dit }

/// <summary>
/// Shares of the DiT's conditioning modes (normalised): nothing given (text to video); the first latent frame given
/// (image to video); a window from the middle of a longer clip whose first frames are given (every chunk after the
/// first, extensions); the last frames given, sometimes with the first (backward extension, loops, connections).
/// </summary>
public sealed record ConditioningMix(double TextToVideo, double FirstFrame, double Continuation, double Ends)
{
    /// <summary>What the shipped checkpoint's successor trains with.</summary>
    public static ConditioningMix All { get; } = new(0.35, 0.2, 0.2, 0.25);

    public static ConditioningMix TextToVideoOnly { get; } = new(1, 0, 0, 0);

    public double Total => TextToVideo + FirstFrame + Continuation + Ends;
}

/// <summary>How a run trains. Every default is what the shipped `tiny` checkpoint was trained with.</summary>
public sealed record TrainingSettings
{
    public required TrainingTarget Target { get; init; }

    /// <summary>Optimiser steps of the whole run (the schedule's length).</summary>
    public required int Steps { get; init; }

    /// <summary>Clips per step. Default 16.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Peak AdamW learning rate. Default 4e-4.</summary>
    public double LearningRate { get; init; } = 4e-4;

    /// <summary>Linear warm-up steps before the cosine decay. Default 200.</summary>
    public int WarmupSteps { get; init; } = 200;

    /// <summary>The cosine decays to this fraction of the peak. Default 0.05.</summary>
    public double FinalLearningRateFraction { get; init; } = 0.05;

    /// <summary>AdamW weight decay. Default 0.01.</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>EMA decay of the sampling weights (DiT and caption encoder). Default 0.998.</summary>
    public double EmaDecay { get; init; } = 0.998;

    /// <summary>
    /// The EMA's decay at <paramref name="step"/>: warmed up as (1 + step) / (10 + step) until that reaches
    /// <see cref="EmaDecay"/>, so a short run's EMA is not still mostly its initialisation (at 0.998 a fixed decay
    /// keeps 30% of it after 600 steps).
    /// </summary>
    public double EmaDecayAt(int step) => Math.Min(EmaDecay, (1.0 + step) / (10.0 + step));

    /// <summary>Gradient norm clip. Default 1.</summary>
    public double GradientClip { get; init; } = 1.0;

    /// <summary>Fraction of captions replaced by the empty caption, for classifier-free guidance. Default 0.1.</summary>
    public double CaptionDropout { get; init; } = 0.1;

    /// <summary>Weight of the VAE's KL term against the pixel MSE. Default 1e-5.</summary>
    public double KlWeight { get; init; } = 1e-5;

    /// <summary>
    /// Weight of the VAE's scale-equivariance term: the latents average-pooled 2× in space must decode to the clip
    /// pooled the same way. It keeps high frequencies the pixels do not have out of the latent, which the DiT would
    /// otherwise have to learn (Skorokhodov et al. 2025, "Improving the Diffusability of Autoencoders"). Default 0.
    /// </summary>
    public double ScaleEquivarianceWeight { get; init; }

    /// <summary>Largest noise level σ of given latent frames. Default 0.05.</summary>
    public double MaxGivenSigma { get; init; } = 0.05;

    /// <summary>The part of the world clips come from. Default the full world.</summary>
    public WorldOptions World { get; init; } = WorldOptions.Full;

    /// <summary>Frame sizes batches are drawn at; null for every size of the configuration.</summary>
    public VideoSize[]? Sizes { get; init; }

    /// <summary>Conditioning modes of the DiT's clips. Default <see cref="ConditioningMix.All"/>.</summary>
    public ConditioningMix Modes { get; init; } = ConditioningMix.All;

    /// <summary>Free frames' noise levels are logit-normal: t = sigmoid(mean + std·n). Defaults 0 and 1.</summary>
    public double TimestepMean { get; init; }
    public double TimestepStd { get; init; } = 1;

    /// <summary>
    /// Precision of the DiT's activations (its weights stay float32): float32, or bfloat16 where the machine runs it
    /// faster (the CLI measures both at start-up). Default float32.
    /// </summary>
    public ScalarType ComputeType { get; init; } = ScalarType.Float32;

    /// <summary>Clips per size encoded once and reused (a latent cache); 0 renders and encodes every batch. Default 0.</summary>
    public int CachedClips { get; init; }

    /// <summary>
    /// The caption encoder keeps the weights it starts with (taken from another run) and only the DiT learns: does a
    /// DiT learn a word sooner when its encoder already tells the words apart?
    /// </summary>
    public bool FreezeCaptionEncoder { get; init; }

    /// <summary>Every step draws the first step's clips (noise still varies): an overfitting check, not training.</summary>
    public bool FixedBatch { get; init; }

    /// <summary>Seeds the data order and every noise draw: (seed, step) decides a step completely.</summary>
    public ulong Seed { get; init; }

    /// <summary>Learning rate at <paramref name="step"/> (0-based): linear warm-up, then cosine decay.</summary>
    public double LearningRateAt(int step)
    {
        if (step < WarmupSteps) return LearningRate * (step + 1) / WarmupSteps;
        var progress = Math.Min(1.0, (double)(step - WarmupSteps) / Math.Max(1, Steps - WarmupSteps));
        var cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return LearningRate * (FinalLearningRateFraction + (1 - FinalLearningRateFraction) * cosine);
    }
}
