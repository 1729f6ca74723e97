using Reel.Model;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class FrameCountTests
{
    private static readonly ModelConfig Config = ModelConfig.Test; // 8 fps, f_t = 4

    [Theory]
    [InlineData(0.1, 5)]
    [InlineData(0.5, 5)]
    [InlineData(1.0, 9)]
    [InlineData(2.0, 17)]
    [InlineData(2.1, 21)]
    [InlineData(4.0, 33)]
    public void Seconds_round_up_to_one_plus_a_multiple_of_the_temporal_compression(double seconds, int frames) =>
        Assert.Equal(frames, FrameCount.ForSeconds(Config, seconds));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 2)]
    [InlineData(33, 9)]
    public void Frames_map_to_latent_frames_and_back(int frames, int latent)
    {
        Assert.Equal(latent, FrameCount.ToLatent(Config, frames));
        Assert.Equal(frames, FrameCount.ToPixel(Config, latent));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(-3)]
    public void Invalid_frame_counts_are_refused_with_the_nearest_valid_ones(int frames)
    {
        var error = Assert.Throws<ModelException>(() => FrameCount.ToLatent(Config, frames));
        Assert.Contains("nearest valid", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Non_positive_durations_are_refused(double seconds) =>
        Assert.Throws<ModelException>(() => FrameCount.ForSeconds(Config, seconds));

    [Fact]
    public void Every_preset_is_consistent()
    {
        foreach (var preset in ModelConfig.Presets) preset.Validate();
    }
}
