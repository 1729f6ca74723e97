using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class SamplerTests
{
    /// <summary>
    /// The exact rectified-flow velocity for data x₀ ~ N(μ, s²): with x_t = a·x₀ + t·ε, a = 1 − t,
    /// E[ε − x₀ | x_t = x] = (t − a·s²) / (a²·s² + t²) · (x − a·μ) − μ.
    /// </summary>
    private sealed class GaussianVelocity(double mean, double std) : IVelocityField
    {
        public Tensor Velocity(Tensor x, Tensor frameTimesteps)
        {
            using var scope = NewDisposeScope();
            var t = frameTimesteps.view(frameTimesteps.shape[0], 1, frameTimesteps.shape[1], 1, 1);
            var a = 1 - t;
            var variance = a.square() * (std * std) + t.square();
            return ((t - a * (std * std)) / variance * (x - a * mean) - mean).MoveToOuterDisposeScope();
        }
    }

    [Theory]
    [InlineData(FlowSolver.Euler, 50, 1.0)]
    [InlineData(FlowSolver.Euler, 200, 3.0)]
    [InlineData(FlowSolver.Heun, 12, 1.0)]
    public void Sampling_a_gaussian_recovers_its_mean_and_variance(FlowSolver solver, int steps, double shift)
    {
        long[] shape = [1, 4, 2, 64, 64];
        using var generator = new Generator(3, CPU);
        using var samples = FlowMatchingSampler.Sample(new GaussianVelocity(2.0, 0.5), shape, GivenFrames.None(shape, CPU), null,
            new SamplerSettings(steps, shift, solver), generator);
        Assert.InRange(samples.mean().item<float>(), 1.98, 2.02);
        Assert.InRange(samples.std().item<float>(), 0.48, 0.52);
    }

    [Fact]
    public void A_mean_field_sampled_with_one_step_lands_on_the_mean()
    {
        // With s → 0 the velocity at t = 1 is x − μ: one Euler step from noise to μ.
        long[] shape = [1, 1, 1, 8, 8];
        using var generator = new Generator(4, CPU);
        using var samples = FlowMatchingSampler.Sample(new GaussianVelocity(-1.5, 0.0), shape, GivenFrames.None(shape, CPU), null,
            new SamplerSettings(1, 1.0), generator);
        Assert.True((samples + 1.5).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void Given_frames_come_out_exactly_as_given_even_with_a_noise_level()
    {
        long[] shape = [1, 2, 4, 8, 8];
        using var values = TestModels.Noise(9, shape);
        var given = new GivenFrames(values, [true, false, false, true], [0.0, 0.0, 0.0, 0.3]);
        using var generator = new Generator(5, CPU);
        using var samples = FlowMatchingSampler.Sample(new GaussianVelocity(0.0, 1.0), shape, given, null, new SamplerSettings(5, 2.0), generator);
        Assert.Equal(0f, TestModels.MaxDifference(samples[.., .., 0], values[.., .., 0]));
        Assert.Equal(0f, TestModels.MaxDifference(samples[.., .., 3], values[.., .., 3]));
        Assert.True(TestModels.MaxDifference(samples[.., .., 1], values[.., .., 1]) > 0.1);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(0.8)]
    public void Mixed_noise_keeps_unit_variance_and_correlates_frames_by_its_setting(double correlation)
    {
        using var generator = new Generator(6, CPU);
        using var noise = FlowMatchingSampler.Noise([4, 8, 3, 32, 32], correlation, generator);
        using var first = noise[.., .., 0].flatten();
        using var second = noise[.., .., 2].flatten();
        using var pair = stack([first, second]);
        using var measured = corrcoef(pair);
        Assert.InRange(noise.std().item<float>(), 0.98, 1.02);
        Assert.InRange(measured[0, 1].item<float>(), correlation - 0.03, correlation + 0.03);
    }

    [Fact]
    public void Independent_noise_draws_the_same_stream_as_a_plain_randn()
    {
        long[] shape = [1, 2, 3, 4, 4];
        using var first = new Generator(7, CPU);
        using var second = new Generator(7, CPU);
        using var noise = FlowMatchingSampler.Noise(shape, 0, first);
        using var plain = randn(shape, generator: second);
        Assert.Equal(0f, TestModels.MaxDifference(noise, plain));
    }

    [Fact]
    public void The_schedule_runs_from_one_to_zero_and_shift_spends_more_steps_at_high_noise()
    {
        var plain = FlowMatchingSampler.Timesteps(10, 1.0);
        var shifted = FlowMatchingSampler.Timesteps(10, 3.0);
        foreach (var schedule in new[] { plain, shifted })
        {
            Assert.Equal(11, schedule.Length);
            Assert.Equal(1.0, schedule[0]);
            Assert.Equal(0.0, schedule[^1]);
            Assert.True(schedule.Zip(schedule.Skip(1)).All(p => p.First > p.Second));
        }
        Assert.True(shifted.Count(t => t > 0.5) > plain.Count(t => t > 0.5));
    }

    [Fact]
    public void An_sdedit_schedule_starts_at_its_strength()
    {
        var schedule = FlowMatchingSampler.Timesteps(10, 1.0, strength: 0.45);
        Assert.Equal(0.45, schedule[0]);
        Assert.Equal(0.0, schedule[^1]);
        Assert.Equal(6, schedule.Length); // 0.45, then 0.4 … 0.0
        Assert.Throws<ModelException>(() => FlowMatchingSampler.Timesteps(10, 1.0, strength: 0));
        Assert.Throws<ModelException>(() => FlowMatchingSampler.Timesteps(0, 1.0));
    }

    [Fact]
    public void Shift_grows_with_the_token_count()
    {
        var config = ModelConfig.Tiny;
        Assert.Equal(config.ShiftBase, FlowMatchingSampler.ShiftFor(config, config.ShiftBaseTokens), 6);
        Assert.Equal(config.ShiftMax, FlowMatchingSampler.ShiftFor(config, config.ShiftMaxTokens), 6);
        Assert.True(FlowMatchingSampler.ShiftFor(config, 500) > FlowMatchingSampler.ShiftFor(config, 100));
    }
}
