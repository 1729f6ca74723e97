using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class VaeStreamingTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Streaming_encode_equals_whole_clip_encode(int latentFramesPerChunk)
    {
        using var model = TestModels.Active();
        using var noGrad = no_grad();
        using var video = TestModels.Noise(5, 1, 3, 17, 32, 32).tanh();
        using var whole = model.Vae.Encode(video);
        using var streamed = model.Vae.Encode(video, latentFramesPerChunk);
        Assert.Equal(whole.shape, streamed.shape);
        Assert.True(TestModels.MaxDifference(whole, streamed) < 1e-5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Streaming_decode_equals_whole_clip_decode(int latentFramesPerChunk)
    {
        using var model = TestModels.Active();
        using var noGrad = no_grad();
        using var latents = TestModels.Noise(6, 1, 4, 5, 8, 8);
        using var whole = model.Vae.Decode(latents);
        var chunks = model.Vae.DecodeStreaming(latents, latentFramesPerChunk).ToList();
        Assert.Equal(1 + (latentFramesPerChunk - 1) * 4, chunks[0].shape[2]);
        using var streamed = cat(chunks, 2);
        Assert.True(TestModels.MaxDifference(whole, streamed) < 1e-5);
    }

    [Fact]
    public void A_latent_frame_depends_only_on_frames_up_to_its_own()
    {
        using var model = TestModels.Active();
        using var noGrad = no_grad();
        using var video = TestModels.Noise(7, 1, 3, 9, 32, 32).tanh();
        using var changed = video.clone();
        changed[.., .., 5..] = changed[.., .., 5..] * -1; // frames 5..8 belong to latent frame 2
        using var a = model.Vae.Encode(video);
        using var b = model.Vae.Encode(changed);
        Assert.True(TestModels.MaxDifference(a[.., .., ..2], b[.., .., ..2]) == 0);
        Assert.True(TestModels.MaxDifference(a[.., .., 2], b[.., .., 2]) > 1e-4);
    }
}

public class VaeBottleneckTests
{
    [Fact]
    public void Kl_divergence_is_zero_only_for_the_standard_normal()
    {
        using var zero = zeros([2, 4, 3, 8, 8]);
        Assert.Equal(0f, SpacetimeVae.KlDivergence(zero, zero).item<float>(), 6);
        using var shifted = full([2, 4, 3, 8, 8], 0.5f);
        Assert.Equal(0.125f, SpacetimeVae.KlDivergence(shifted, zero).item<float>(), 5); // ½μ²
        Assert.True(SpacetimeVae.KlDivergence(zero, shifted).item<float>() > 0);
    }

    [Fact]
    public void Posterior_samples_spread_by_the_posterior_variance()
    {
        using var mean = full([1, 4, 2, 16, 16], 3f);
        using var logVar = full([1, 4, 2, 16, 16], (float)Math.Log(0.25));
        using var generator = new Generator(1, CPU);
        using var z = SpacetimeVae.SamplePosterior(mean, logVar, generator);
        Assert.InRange(z.mean().item<float>(), 2.95, 3.05);
        Assert.InRange(z.std().item<float>(), 0.47, 0.53);
    }
}
