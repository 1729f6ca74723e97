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

/// <param name="NoiseFrameCorrelation">The model's <see cref="ModelConfig.NoiseFrameCorrelation"/>: the starting noise must be drawn as in training.</param>
public sealed record SamplerSettings(int Steps, double Shift, FlowSolver Solver = FlowSolver.Euler, double NoiseFrameCorrelation = 0);

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
    /// Noise of <paramref name="shape"/> [B, C, T, H, W] whose frames correlate by <paramref name="frameCorrelation"/>
    /// (<see cref="ModelConfig.NoiseFrameCorrelation"/>), each value still standard normal; at 0 exactly one
    /// <c>randn</c>, so independent noise draws the same stream as before the field existed.
    /// </summary>
    public static Tensor Noise(long[] shape, double frameCorrelation, Generator generator, Device? device = null)
    {
        if (frameCorrelation == 0) return randn(shape, device: device, generator: generator);
        using var scope = NewDisposeScope();
        var own = randn(shape, device: device, generator: generator);
        var shared = randn([shape[0], shape[1], 1, shape[3], shape[4]], device: device, generator: generator);
        return (Math.Sqrt(frameCorrelation) * shared + Math.Sqrt(1 - frameCorrelation) * own).MoveToOuterDisposeScope();
    }

    /// <summary>Samples latents of <paramref name="shape"/> [1, C, T, H, W] with one velocity evaluation at a time (see <see cref="FlowSampling"/>).</summary>
    public static Tensor Sample(IVelocityField field, long[] shape, GivenFrames given, SdeditStart? sdedit,
        SamplerSettings settings, Generator generator, Action<int, int>? onStep = null)
    {
        using var sampling = new FlowSampling(shape, given, sdedit, settings, generator);
        while (!sampling.Done)
        {
            var (x, t) = sampling.Query;
            using var v = field.Velocity(x, t);
            if (sampling.Accept(v)) onStep?.Invoke(sampling.Step, sampling.Steps);
        }
        return sampling.Result();
    }
}

/// <summary>
/// One sample's integration in progress, asking for one velocity at a time (<see cref="Query"/>, then
/// <see cref="Accept"/>), so that the steps of several samples can share a DiT pass. Draws, in this order from the
/// generator: the starting noise, then the noise of the given frames (both always, so the stream never depends on the
/// mode). Given frames are written back before every evaluation, so they come out exactly as given.
/// </summary>
public sealed class FlowSampling : IDisposable
{
    private readonly Tensor _frameMask, _givenTimesteps, _mask, _noisedGiven, _given;
    private readonly double[] _timesteps;
    private readonly FlowSolver _solver;
    private readonly int _frames;
    private Tensor _x;
    private (Tensor X, Tensor Velocity, Tensor Euler)? _predictor;
    private (Tensor X, Tensor FrameTimesteps)? _query;

    public FlowSampling(long[] shape, GivenFrames given, SdeditStart? sdedit, SamplerSettings settings, Generator generator)
    {
        Shape = shape;
        _solver = settings.Solver;
        _frames = (int)shape[2];
        using var scope = NewDisposeScope();
        var device = given.Values.device;
        var noise = FlowMatchingSampler.Noise(shape, settings.NoiseFrameCorrelation, generator, device);
        var givenNoise = randn(shape, device: device, generator: generator);
        _frameMask = tensor(given.Mask, device: device).unsqueeze(0);
        _givenTimesteps = tensor(given.Sigma.Select(s => (float)s).ToArray(), device: device).unsqueeze(0);
        _mask = _frameMask.view(1, 1, _frames, 1, 1);
        var sigma = _givenTimesteps.view(1, 1, _frames, 1, 1);
        _noisedGiven = (1 - sigma) * given.Values + sigma * givenNoise;
        _given = given.Values.alias();
        _timesteps = FlowMatchingSampler.Timesteps(settings.Steps, settings.Shift, sdedit?.Strength ?? 1.0);
        _x = sdedit is null ? noise : (1 - _timesteps[0]) * sdedit.Latents + _timesteps[0] * noise;
        foreach (var owned in new[] { _frameMask, _givenTimesteps, _mask, _noisedGiven, _given, _x }) owned.DetachFromDisposeScope();
    }

    public long[] Shape { get; }

    /// <summary>Steps done and in all.</summary>
    public int Step { get; private set; }
    public int Steps => _timesteps.Length - 1;
    public bool Done => Step == Steps;

    /// <summary>Where the velocity is wanted next: latents [1, C, T, H, W] and each frame's timestep [1, T]. Owned by this sampling.</summary>
    public (Tensor X, Tensor FrameTimesteps) Query => _query ??= NextQuery();

    private (Tensor X, Tensor FrameTimesteps) NextQuery()
    {
        if (Done) throw new InvalidOperationException("The sampling is done.");
        var (t, next) = (_timesteps[Step], _timesteps[Step + 1]);
        using var scope = NewDisposeScope();
        var query = _predictor is { } p
            ? (X: WriteBack(p.Euler), T: FrameTimesteps(next))
            : (X: WriteBack(_x), T: FrameTimesteps(t));
        query.X.DetachFromDisposeScope();
        query.T.DetachFromDisposeScope();
        return query;
    }

    /// <summary>Takes the velocity at <see cref="Query"/>; true when that finished a step (Heun's first evaluation does not).</summary>
    public bool Accept(Tensor velocity)
    {
        var (x, frameTimesteps) = Query;
        _query = null;
        frameTimesteps.Dispose();
        var (t, next) = (_timesteps[Step], _timesteps[Step + 1]);
        using var scope = NewDisposeScope();
        if (_predictor is { } p)
        {
            x.Dispose();
            Replace((p.X + (next - t) * 0.5 * (p.Velocity + velocity)).DetachFromDisposeScope());
            p.X.Dispose();
            p.Velocity.Dispose();
            p.Euler.Dispose();
            _predictor = null;
            Step++;
            return true;
        }
        var euler = (x + (next - t) * velocity).DetachFromDisposeScope();
        if (_solver == FlowSolver.Heun && next > 0)
        {
            _predictor = (x, velocity.clone().DetachFromDisposeScope(), euler);
            return false;
        }
        x.Dispose();
        Replace(euler);
        Step++;
        return true;
    }

    /// <summary>The sampled latents [1, C, T, H, W] with the given frames exactly as given; the caller owns them.</summary>
    public Tensor Result()
    {
        if (!Done) throw new InvalidOperationException($"The sampling is at step {Step} of {Steps}.");
        return where(_mask, _given, _x);
    }

    private void Replace(Tensor x)
    {
        _x.Dispose();
        _x = x;
    }

    private Tensor WriteBack(Tensor x) => where(_mask, _noisedGiven, x);

    private Tensor FrameTimesteps(double t) => where(_frameMask, _givenTimesteps, full([1L, _frames], t, device: _x.device));

    public void Dispose()
    {
        if (_query is { } q)
        {
            q.X.Dispose();
            q.FrameTimesteps.Dispose();
        }
        if (_predictor is { } p)
        {
            p.X.Dispose();
            p.Velocity.Dispose();
            p.Euler.Dispose();
        }
        foreach (var owned in new[] { _frameMask, _givenTimesteps, _mask, _noisedGiven, _given, _x }) owned.Dispose();
    }
}
