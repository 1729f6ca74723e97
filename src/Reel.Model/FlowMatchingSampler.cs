using static TorchSharp.torch;

namespace Reel.Model;

public enum FlowSolver { Euler, Heun }

/// <summary>A velocity field v(x, t) over latents [B, C, T, H, W] with a timestep per latent frame [B, T].</summary>
public interface IVelocityField
{
    Tensor Velocity(Tensor x, Tensor frameTimesteps);
}

/// <summary>
/// Latent frames whose values are known. <see cref="Values"/> [1, C, T, H, W] holds them (other frames are
/// ignored); each given frame has its own noise level σ (0: exact; small: noise augmentation against drift).
/// </summary>
public sealed record GivenFrames(Tensor Values, bool[] Mask, double[] Sigma)
{
    public static GivenFrames None(long[] shape, Device device) =>
        new(zeros(shape, device: device), new bool[shape[2]], new double[shape[2]]);

    public bool Any => Mask.Any(m => m);
}

/// <summary>SDEdit: start from <paramref name="Latents"/> noised to <paramref name="Strength"/> ∈ (0, 1] instead of pure noise.</summary>
public sealed record SdeditStart(Tensor Latents, double Strength);

public sealed record SamplerSettings(int Steps, double Shift, FlowSolver Solver = FlowSolver.Euler);

/// <summary>
/// Rectified-flow sampling: x_t = (1 − t)·x₀ + t·ε, integrated from t = 1 (noise) to 0 with the predicted velocity
/// ε − x₀. Given frames are written back after every step, so they come out exactly as given.
/// </summary>
public static class FlowMatchingSampler
{
    /// <summary>Shift for a sequence of <paramref name="tokens"/>: exp of μ interpolated linearly in the token count.</summary>
    public static double ShiftFor(ModelConfig config, long tokens)
    {
        var slope = (Math.Log(config.ShiftMax) - Math.Log(config.ShiftBase)) / (config.ShiftMaxTokens - config.ShiftBaseTokens);
        var mu = Math.Log(config.ShiftBase) + slope * (tokens - config.ShiftBaseTokens);
        return Math.Max(1.0, Math.Exp(mu));
    }

    /// <summary>
    /// Steps + 1 timesteps from 1 to 0, shifted by t' = s·t / (1 + (s − 1)·t). For SDEdit at strength s &lt; 1 the
    /// schedule starts at s and keeps the timesteps below it.
    /// </summary>
    public static double[] Timesteps(int steps, double shift, double strength = 1.0)
    {
        if (steps < 1) throw new ModelException($"Steps must be at least 1, got {steps}.");
        if (!(strength > 0 && strength <= 1)) throw new ModelException($"Strength must be in (0, 1], got {strength}.");
        var shifted = Enumerable.Range(0, steps + 1).Select(i => 1.0 - (double)i / steps)
            .Select(t => shift * t / (1 + (shift - 1) * t)).ToArray();
        return strength >= 1 ? shifted : shifted.Where(t => t < strength).Prepend(strength).ToArray();
    }

    /// <summary>
    /// Samples latents of <paramref name="shape"/> [1, C, T, H, W]. Draws, in this order from <paramref name="generator"/>:
    /// the starting noise, then the noise of the given frames (both always, so the stream never depends on the mode).
    /// </summary>
    public static Tensor Sample(IVelocityField field, long[] shape, GivenFrames given, SdeditStart? sdedit,
        SamplerSettings settings, Generator generator, Action<int, int>? onStep = null)
    {
        using var scope = NewDisposeScope();
        var device = given.Values.device;
        var noise = randn(shape, device: device, generator: generator);
        var givenNoise = randn(shape, device: device, generator: generator);
        var frames = (int)shape[2];
        var frameMask = tensor(given.Mask, device: device).unsqueeze(0);
        var givenTimesteps = tensor(given.Sigma.Select(s => (float)s).ToArray(), device: device).unsqueeze(0);
        var mask = frameMask.view(1, 1, frames, 1, 1);
        var sigma = givenTimesteps.view(1, 1, frames, 1, 1);
        var noisedGiven = (1 - sigma) * given.Values + sigma * givenNoise;

        Tensor WriteBack(Tensor x) => where(mask, noisedGiven, x);
        Tensor FrameTimesteps(double t) => where(frameMask, givenTimesteps, full([1L, frames], t, device: device));

        var timesteps = Timesteps(settings.Steps, settings.Shift, sdedit?.Strength ?? 1.0);
        var x = sdedit is null ? noise : (1 - timesteps[0]) * sdedit.Latents + timesteps[0] * noise;
        for (var i = 0; i < timesteps.Length - 1; i++)
        {
            using var step = NewDisposeScope();
            var (t, next) = (timesteps[i], timesteps[i + 1]);
            x = WriteBack(x);
            var v = field.Velocity(x, FrameTimesteps(t));
            var euler = x + (next - t) * v;
            if (settings.Solver == FlowSolver.Heun && next > 0)
            {
                var vNext = field.Velocity(WriteBack(euler), FrameTimesteps(next));
                euler = x + (next - t) * 0.5 * (v + vNext);
            }
            x = euler.MoveToOuterDisposeScope();
            onStep?.Invoke(i + 1, timesteps.Length - 1);
        }
        return where(mask, given.Values, x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The DiT with a caption and classifier-free guidance: v = v(∅) + g·(v(caption) − v(∅)); one batched pass of both.
/// </summary>
public sealed class GuidedVelocity(DiffusionTransformer dit, CaptionTokens caption, CaptionTokens unconditional, double guidance)
    : IVelocityField
{
    public Tensor Velocity(Tensor x, Tensor frameTimesteps)
    {
        using var scope = NewDisposeScope();
        if (guidance == 1.0)
            return dit.forward(x, frameTimesteps, caption.Tokens, caption.Mask).MoveToOuterDisposeScope();
        var length = Math.Max(caption.Tokens.shape[1], unconditional.Tokens.shape[1]);
        var tokens = cat([PadTo(caption.Tokens, length), PadTo(unconditional.Tokens, length)], 0);
        var masks = cat([PadTo(caption.Mask, length), PadTo(unconditional.Mask, length)], 0);
        var v = dit.forward(cat([x, x], 0), cat([frameTimesteps, frameTimesteps], 0), tokens, masks).chunk(2, 0);
        return (v[1] + guidance * (v[0] - v[1])).MoveToOuterDisposeScope();
    }

    private static Tensor PadTo(Tensor t, long length) =>
        t.shape[1] == length ? t : nn.functional.pad(t, t.dim() == 3 ? [0, 0, 0, length - t.shape[1]] : [0, length - t.shape[1]]);
}
