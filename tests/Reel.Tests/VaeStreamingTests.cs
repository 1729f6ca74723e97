using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Tests;

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
