using System.Diagnostics;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>The time of one piece of work in float32 and in bfloat16, and which was faster.</summary>
public sealed record PrecisionTiming(double Float32Milliseconds, double BFloat16Milliseconds)
{
    public ScalarType Faster => BFloat16Milliseconds < Float32Milliseconds ? ScalarType.BFloat16 : ScalarType.Float32;

    public override string ToString() =>
        $"float32 {Float32Milliseconds:0.0} ms, bfloat16 {BFloat16Milliseconds:0.0} ms: {(Faster == ScalarType.BFloat16 ? "bfloat16" : "float32")}";
}

/// <summary>
/// Measures whether bfloat16 pays on this machine. It depends on the CPU — 4.5× faster than float32 for large matrix
/// products on an AMD Zen 5, slower on an Intel Xeon without AVX-512 BF16 — so it is measured, never assumed.
/// </summary>
public static class PrecisionProbe
{
    /// <summary>
    /// A precision whose single run, warm-up included, takes this many times the other's best cannot win and is not
    /// run again: bfloat16 without hardware support took 60× float32's time for a VAE training step on an AVX2-only
    /// AMD EPYC, minutes a run, and measuring it in full cost longer than a short run's training.
    /// </summary>
    public const double Hopeless = 10;

    /// <summary>
    /// Runs <paramref name="work"/> once in each precision to warm up, then keeps the best of <paramref name="repeats"/>
    /// (float32 first; bfloat16 stops early once it is <see cref="Hopeless"/>).
    /// </summary>
    public static PrecisionTiming Measure(Action<ScalarType> work, int repeats = 3)
    {
        double Best(ScalarType type, double rival)
        {
            var best = double.MaxValue;
            for (var i = 0; i <= repeats; i++)
            {
                using var scope = NewDisposeScope();
                var clock = Stopwatch.StartNew();
                work(type);
                var elapsed = clock.Elapsed.TotalMilliseconds;
                if (elapsed > Hopeless * rival) return elapsed;
                if (i > 0) best = Math.Min(best, elapsed);
            }
            return best;
        }
        var float32 = Best(ScalarType.Float32, double.PositiveInfinity);
        return new PrecisionTiming(float32, Best(ScalarType.BFloat16, float32));
    }

    /// <summary>
    /// What serving <paramref name="config"/> costs in each precision on <paramref name="device"/>: one guided denoising
    /// step of a chunk at the default size (a DiT pass of two rows) and the streaming decode of that chunk, on fresh
    /// weights (the cost does not depend on their values).
    /// </summary>
    public static PrecisionTiming Serving(ModelConfig config, string device)
    {
        var (h, w) = (config.DefaultSize.Height / config.SpatialCompression, config.DefaultSize.Width / config.SpatialCompression);
        var models = new Dictionary<ScalarType, ReelModel>();
        try
        {
            foreach (var type in new[] { ScalarType.Float32, ScalarType.BFloat16 }) models[type] = ReelModel.Create(config, new ModelRuntime(device, type));
            var target = models[ScalarType.Float32].Device;
            using var latents = randn([1, config.LatentChannels, config.ChunkLatentFrames, h, w], device: target);
            using var rows = cat([latents, latents], 0);
            using var timesteps = full([2L, config.ChunkLatentFrames], 0.5, device: target);
            using var caption = zeros([2L, config.MaxCaptionTokens, config.CaptionWidth], device: target);
            using var mask = ones([2L, config.MaxCaptionTokens], ScalarType.Bool, device: target);
            using var noGrad = no_grad();
            return Measure(type =>
            {
                var model = models[type];
                model.Dit.forward(rows, timesteps, caption, mask).Dispose();
                foreach (var frames in model.DecodeLatents(latents)) frames.Dispose();
            }, repeats: 2);
        }
        finally
        {
            foreach (var model in models.Values) model.Dispose();
        }
    }
}
