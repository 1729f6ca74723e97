using Reel.Abstractions;
using Reel.Model;
using Reel.Requests;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class SizeRuleTests
{
    private static SizeRule.Choice Choose(ModelConfig config, int width, int height) =>
        SizeRule.Choose(config.Name, config.Sizes, config.SizeMultiple, new VideoSize(width, height));

    [Fact]
    public void A_trained_size_is_made_as_asked_without_a_word()
    {
        Assert.Equal(new SizeRule.Choice(new VideoSize(64, 48), null), Choose(ModelConfig.Tiny, 64, 48));
    }

    [Fact]
    public void An_SDK_standard_size_becomes_the_trained_size_of_its_shape_and_says_so()
    {
        var landscape = Choose(ModelConfig.Tiny, 1280, 720);
        Assert.Equal(new VideoSize(64, 48), landscape.Size);
        Assert.Contains("making 64x48", landscape.Note);
        Assert.Equal(new VideoSize(48, 64), Choose(ModelConfig.Tiny, 720, 1280).Size);
    }

    [Fact]
    public void Another_grid_size_within_the_pixel_budget_is_made_as_asked_with_a_quality_warning()
    {
        var choice = Choose(ModelConfig.Tiny, 96, 96);
        Assert.Equal(new VideoSize(96, 96), choice.Size);
        Assert.Contains("not a size model 'tiny' was trained at", choice.Note);
    }

    [Fact]
    public void A_size_beyond_the_pixel_budget_or_off_the_grid_is_refused_naming_what_works()
    {
        Assert.Contains("at most 12288 pixels", Assert.Throws<ModelException>(() => Choose(ModelConfig.Tiny, 128, 128)).Message);
        Assert.Contains("not a multiple of 8", Assert.Throws<ModelException>(() => Choose(ModelConfig.Tiny, 36, 32)).Message);
    }

    [Fact]
    public void A_size_beyond_the_pixel_budget_is_made_only_when_asked_for_explicitly_and_still_on_the_grid()
    {
        var tiny = ModelConfig.Tiny;
        var choice = SizeRule.Choose(tiny.Name, tiny.Sizes, tiny.SizeMultiple, new VideoSize(128, 128), anySize: true);
        Assert.Equal(new VideoSize(128, 128), choice.Size);
        Assert.Contains("expect less than its usual quality", choice.Note);
        Assert.Throws<ModelException>(() => SizeRule.Choose(tiny.Name, tiny.Sizes, tiny.SizeMultiple, new VideoSize(132, 128), anySize: true));
        // The request compiler reads the request's own flag, which the HTTP API never sets.
        var request = new VideoRequest { Prompt = "a ball", Seed = 1, Width = 128, Height = 128 };
        Assert.Throws<ModelException>(() => RequestCompiler.Generation(request, tiny));
        Assert.Equal(new VideoSize(128, 128), RequestCompiler.Generation(request with { AnySize = true }, tiny).Size);
    }
}
