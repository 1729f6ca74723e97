using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Tests;

public class ShapeTests
{
    public static TheoryData<int, int, int> Grids => new()
    {
        { 32, 32, 1 },   // one frame: an image
        { 32, 32, 9 },
        { 48, 32, 5 },   // landscape
        { 32, 48, 13 },  // portrait
        { 64, 16, 17 },  // wide
    };

    [Trait(Tier.Name, Tier.Fast)]
    [Theory]
    [MemberData(nameof(Grids))]
    public void Vae_compresses_time_and_space_and_decodes_back_to_the_same_shape(int width, int height, int frames)
    {
        using var model = TestModels.Active();
        using var video = TestModels.Noise(1, 1, 3, frames, height, width).tanh();
        using var latents = model.EncodeLatents(video);
        var config = model.Config;
        Assert.Equal(new long[] { 1, config.LatentChannels, FrameCount.ToLatent(config, frames), height / 4, width / 4 }, latents.shape);
        using var decoded = cat(model.DecodeLatents(latents).ToList(), 2);
        Assert.Equal(video.shape, decoded.shape);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void A_vae_without_the_patch_fold_has_the_same_shapes()
    {
        var config = ModelConfig.Test with { VaePatchSize = 1 };
        using var vae = new SpacetimeVae(config);
        using var noGrad = no_grad();
        using var video = TestModels.Noise(8, 1, 3, 9, 32, 48);
        using var latents = vae.Encode(video);
        Assert.Equal(new long[] { 1, 4, 3, 8, 12 }, latents.shape);
        using var decoded = vae.Decode(latents);
        Assert.Equal(video.shape, decoded.shape);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Absolute_positions_tell_every_token_apart_and_mean_the_same_place_in_every_grid()
    {
        using var small = DiffusionTransformer.SinCosPositions(3, 4, 5, 96, CPU);
        using var large = DiffusionTransformer.SinCosPositions(5, 6, 7, 96, CPU);
        Assert.Equal([3L * 4 * 5, 96], small.shape);
        using var distances = cdist(small, small);
        using var offDiagonal = distances + eye(60) * 1e9;
        Assert.True(offDiagonal.min().item<float>() > 0.1f);
        // Token (t, h, w) of the small grid is token (t, h, w) of the large one.
        using var shared = large.view(5, 6, 7, 96)[..3, ..4, ..5].reshape(60, 96);
        Assert.True(allclose(small, shared));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Folding_pixels_into_channels_is_undone_exactly()
    {
        using var x = TestModels.Noise(9, 2, 3, 5, 8, 12);
        using var folded = PixelFolding.Fold(x, 2);
        Assert.Equal(new long[] { 2, 12, 5, 4, 6 }, folded.shape);
        using var back = PixelFolding.Unfold(folded, 2);
        Assert.Equal(0f, TestModels.MaxDifference(x, back));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Theory]
    [MemberData(nameof(Grids))]
    public void Dit_predicts_a_velocity_for_every_latent_cell_with_a_timestep_per_frame(int width, int height, int frames)
    {
        using var model = TestModels.Active();
        var latentFrames = FrameCount.ToLatent(model.Config, frames);
        using var x = TestModels.Noise(2, 2, 4, latentFrames, height / 4, width / 4);
        using var t = rand(2, latentFrames);
        using var caption = model.CaptionEncoder.Encode(["a red disc falls", "a blue square"]);
        using var v = model.Dit.forward(x, t, caption.Tokens, caption.Mask);
        Assert.Equal(x.shape, v.shape);
        Assert.False(v.isnan().any().item<bool>());
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void A_fresh_dit_predicts_zero_velocity_because_its_output_layers_start_at_zero()
    {
        using var model = ReelModel.Create(ModelConfig.Test);
        using var x = TestModels.Noise(3, 1, 4, 2, 8, 8);
        using var caption = model.CaptionEncoder.Encode(["a ball"]);
        using var v = model.Dit.forward(x, full(1, 2, 0.5f), caption.Tokens, caption.Mask);
        Assert.Equal(0f, v.abs().max().item<float>());
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void A_fresh_clean_predicting_dit_returns_the_velocity_toward_zero_latents_with_small_timesteps_floored()
    {
        using var model = ReelModel.Create(ModelConfig.Test with { Prediction = Prediction.Clean });
        using var x = TestModels.Noise(3, 1, 4, 2, 8, 8);
        using var caption = model.CaptionEncoder.Encode(["a ball"]);
        using var t = tensor(new[] { 0.5f, 0.01f }).unsqueeze(0);
        using var v = model.Dit.forward(x, t, caption.Tokens, caption.Mask);
        Assert.True(TestModels.MaxDifference(v[.., .., 0], x[.., .., 0] / 0.5) < 1e-5f);
        Assert.True(TestModels.MaxDifference(v[.., .., 1], x[.., .., 1] / DiffusionTransformer.MinCleanTimestep) < 1e-4f);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Each_latent_frame_follows_its_own_timestep()
    {
        using var model = TestModels.Active();
        using var x = TestModels.Noise(4, 1, 4, 3, 8, 8);
        using var caption = model.CaptionEncoder.Encode(["a ball"]);
        using var same = model.Dit.forward(x, full(1, 3, 0.5f), caption.Tokens, caption.Mask);
        using var t = tensor(new[] { 0f, 0.5f, 0.5f }).unsqueeze(0);
        using var firstClean = model.Dit.forward(x, t, caption.Tokens, caption.Mask);
        Assert.True(TestModels.MaxDifference(same[.., .., 0], firstClean[.., .., 0]) > 1e-4, "frame 0 follows its own timestep");
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Tokens_two_latent_frames_deep_halve_the_sequence_and_keep_each_frames_own_timestep()
    {
        var config = ModelConfig.Test with { PatchFrames = 2 };
        Assert.Equal(2 * 4 * 4, config.DitTokens(3, 8, 8)); // 3 frames are 2 rows of tokens, the second padded
        using var model = TestModels.Active(config: config);
        using var x = TestModels.Noise(4, 1, 4, 3, 8, 8);
        using var caption = model.CaptionEncoder.Encode(["a ball"]);
        using var givenFirst = model.Dit.forward(x, tensor(new[] { 0f, 0.5f, 0.5f }).unsqueeze(0), caption.Tokens, caption.Mask);
        using var givenSecond = model.Dit.forward(x, tensor(new[] { 0.5f, 0f, 0.5f }).unsqueeze(0), caption.Tokens, caption.Mask);
        Assert.Equal(x.shape, givenFirst.shape);
        Assert.True(TestModels.MaxDifference(givenFirst[.., .., ..2], givenSecond[.., .., ..2]) > 1e-4,
            "a token sharing a given and a generated frame knows which of the two is given");
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Captions_map_unknown_words_to_the_unknown_token_and_always_begin_with_a_token()
    {
        var tokenizer = new CaptionTokenizer(["red", "ball"], maxTokens: 4);
        Assert.Equal(new long[] { CaptionTokenizer.Begin, 3, CaptionTokenizer.Unknown, 4 }, tokenizer.Tokenize("Red zebra, BALL!"));
        Assert.Equal(new long[] { CaptionTokenizer.Begin }, tokenizer.Tokenize(""));
        Assert.Equal(4, tokenizer.Tokenize("red red red red red red").Length);
    }

    // The full tier: the base preset's DiT alone takes half a minute to build.
    [Fact]
    public void Parameter_counts_grow_from_test_to_base()
    {
        var counts = ModelConfig.Presets.Select(c =>
        {
            using var dit = new DiffusionTransformer(c);
            return ReelModel.ParameterCount(dit);
        }).ToArray();
        Assert.True(counts.Zip(counts.Skip(1)).All(p => p.First < p.Second), string.Join(", ", counts));
    }
}
