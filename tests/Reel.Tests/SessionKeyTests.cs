using Reel.Abstractions;
using Reel.Model;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public sealed class SessionKeyTests
{
    private const string Weights = "6036f4d5a1b2c3d4";

    [Fact]
    public void Key_round_trips_through_its_string_and_its_video_id_names_its_video_record()
    {
        var key = SessionKey.New("acme", "alpha", Weights);
        Assert.Equal(key, SessionKey.Parse(key.ToString()));
        Assert.Equal($"acme/alpha/{Weights}/{key.Session}", key.ToString());
        // The id carries neither pool nor weights: the record outlives both.
        Assert.Equal($"video_{key.Session}", key.VideoId);
        Assert.True(SessionKey.TryVideoGrainKey("acme", key.VideoId, out var grainKey));
        Assert.Equal(key.VideoGrainKey, grainKey);
    }

    [Fact]
    public void Another_tenants_video_id_names_a_different_video()
    {
        var key = SessionKey.New("acme", "alpha", Weights);
        Assert.True(SessionKey.TryVideoGrainKey("globex", key.VideoId, out var other));
        Assert.NotEqual(key.VideoGrainKey, other);
        Assert.StartsWith("globex/", other);
    }

    [Theory]
    [InlineData("acme/alpha/6036f4d5a1b2c3d4")]
    [InlineData("acme/Alpha/6036f4d5a1b2c3d4/0123456789abcdef0123456789abcdef")]
    [InlineData("acme/alpha/6036F4D5A1B2C3D4/0123456789abcdef0123456789abcdef")]
    [InlineData("../alpha/6036f4d5a1b2c3d4/0123456789abcdef0123456789abcdef")]
    [InlineData("acme/alpha/6036f4d5a1b2c3d4/0123456789abcdef0123456789abcdef/x")]
    public void Malformed_keys_are_refused(string text)
    {
        Assert.False(SessionKey.TryParse(text, out _));
        Assert.Throws<FormatException>(() => SessionKey.Parse(text));
    }

    [Theory]
    [InlineData("video_alpha_6036f4d5a1b2c3d4")]
    [InlineData("video_alpha_6036f4d5a1b2c3d4_0123456789abcdef0123456789abcdef")]
    [InlineData("vid_0123456789abcdef0123456789abcdef")]
    [InlineData("video_0123456789ABCDEF0123456789ABCDEF")]
    [InlineData("video_0123456789abcdef")]
    public void Malformed_video_ids_are_refused(string id) => Assert.False(SessionKey.TryVideoGrainKey("acme", id, out _));

    [Fact]
    public void Weights_version_is_the_hash_prefix_and_latest_matches_any()
    {
        const string hash = "sha256:6036f4d5a1b2c3d4ffffffffffffffffffffffffffffffffffffffffffffffff";
        Assert.Equal(Weights, WeightsVersion.Of(hash));
        Assert.True(WeightsVersion.Matches(Weights, hash));
        Assert.True(WeightsVersion.Matches(WeightsVersion.Latest, hash));
        Assert.False(WeightsVersion.Matches("0000000000000000", hash));
    }

    [Fact]
    public void Latents_file_round_trips_exactly()
    {
        using var latents = TestModels.Noise(3, 1, 4, 5, 8, 8);
        using var back = LatentsFile.FromBytes(LatentsFile.ToBytes(latents));
        Assert.Equal(latents.shape, back.shape);
        Assert.Equal(0f, TestModels.MaxDifference(latents, back));
        Assert.Throws<ModelException>(() => LatentsFile.FromBytes(new byte[4]));
    }
}
