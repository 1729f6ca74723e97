using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class ConditioningTests
{
    // 17 frames = 5 latent frames in chunks [0, 3) and [2, 5) of the test configuration.
    private const int Frames = 17;
    private const int LatentFrames = 5;

    private static GenerationRequest Request(params GivenSpan[] given) => new()
    {
        Prompt = "a red disc slides to the left", Size = new VideoSize(32, 32), Frames = Frames, Seed = 99, Steps = 4, Given = given,
    };

    public static TheoryData<string, int[]> Placements => new()
    {
        { "head", [0] },
        { "tail", [4] },
        { "both ends", [0, 4] },
        { "middle span across chunks", [1, 2] },
    };

    [Theory]
    [MemberData(nameof(Placements))]
    public void Given_latent_frames_come_out_exactly_wherever_they_are_placed(string placement, int[] frames)
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        using var source = TestModels.Noise(12, 1, 4, LatentFrames, 8, 8);
        var spans = frames.Select(f => new GivenSpan(f, source[.., .., f..(f + 1)])).ToArray();
        using var plain = generator.GenerateLatents(Request());
        using var conditioned = generator.GenerateLatents(Request(spans));
        foreach (var f in frames)
            Assert.True(TestModels.MaxDifference(conditioned[.., .., f], source[.., .., f]) == 0, $"{placement}: frame {f} is exact");
        var free = Enumerable.Range(0, LatentFrames).Except(frames).ToArray();
        Assert.Contains(free, f => TestModels.MaxDifference(conditioned[.., .., f], plain[.., .., f]) > 1e-4);
    }

    [Fact]
    public void Given_frames_with_a_noise_level_are_still_returned_exactly()
    {
        using var model = TestModels.Active();
        using var source = TestModels.Noise(13, 1, 4, 1, 8, 8);
        using var latents = new VideoGenerator(model).GenerateLatents(Request(new GivenSpan(0, source, Sigma: 0.1)));
        Assert.Equal(0f, TestModels.MaxDifference(latents[.., .., ..1], source));
    }

    [Fact]
    public void Sdedit_at_full_strength_is_plain_generation()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        using var source = TestModels.Noise(14, 1, 4, LatentFrames, 8, 8);
        using var plain = generator.GenerateLatents(Request());
        using var edited = generator.GenerateLatents(Request() with { Edit = new SdeditStart(source, 1.0) });
        Assert.Equal(LatentDigest.Of(plain), LatentDigest.Of(edited));
    }

    [Fact]
    public void Sdedit_stays_closer_to_the_source_the_lower_the_strength()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        using var source = TestModels.Noise(15, 1, 4, LatentFrames, 8, 8);
        var distances = new[] { 0.1, 0.5, 0.9 }.Select(strength =>
        {
            using var edited = generator.GenerateLatents(Request() with { Edit = new SdeditStart(source, strength) });
            return (edited - source).square().mean().item<float>();
        }).ToArray();
        Assert.True(distances[0] < distances[1] && distances[1] < distances[2], string.Join(", ", distances));
        Assert.True(distances[0] < 0.05, $"strength 0.1 moved the source by {distances[0]}");
    }

    [Fact]
    public void One_frame_generation_makes_an_image()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        using var latents = generator.GenerateLatents(Request() with { Frames = 1 });
        Assert.Equal(new long[] { 1, 4, 1, 8, 8 }, latents.shape);
        var frames = generator.Decode(latents).ToList();
        Assert.Equal(new long[] { 1, 3, 32, 32 }, frames.Single().shape);
    }

    [Fact]
    public void Known_pixel_frames_at_the_tail_are_encoded_from_the_output_timeline_and_kept()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        using var pixels = TestModels.Noise(16, 1, 3, Frames, 32, 32).tanh();
        var known = Enumerable.Range(0, Frames).Select(f => f >= 9).ToArray(); // frames 9..16 = latent frames 3 and 4
        var spans = generator.GivenFromPixels(pixels, known);
        var span = Assert.Single(spans);
        Assert.Equal(3, span.Start);
        Assert.Equal(5, span.End);
        using var zeroed = where(tensor(known).view(1, 1, Frames, 1, 1), pixels, zeros_like(pixels));
        using var expected = model.EncodeLatents(zeroed);
        Assert.Equal(0f, TestModels.MaxDifference(span.Latents, expected[.., .., 3..]));
        using var latents = generator.GenerateLatents(Request([.. spans]));
        Assert.Equal(0f, TestModels.MaxDifference(latents[.., .., 3..], span.Latents));
    }

    [Fact]
    public void Requests_outside_the_model_are_refused_with_a_clear_message()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        Assert.Contains("multiple of 8", Assert.Throws<ModelException>(() => generator.Plan(Request() with { Size = new VideoSize(36, 32) })).Message);
        Assert.Contains("1 + k", Assert.Throws<ModelException>(() => generator.Plan(Request() with { Frames = 20 })).Message);
        Assert.Contains("longer than", Assert.Throws<ModelException>(() => generator.Plan(Request() with { Frames = 1 + 4 * 100 })).Message);
        using var wrong = zeros([1, 4, 1, 4, 4]);
        Assert.Contains("size", Assert.Throws<ModelException>(() => generator.Plan(Request(new GivenSpan(0, wrong)))).Message);
        using var late = zeros([1, 4, 2, 8, 8]);
        Assert.Contains("outside", Assert.Throws<ModelException>(() => generator.Plan(Request(new GivenSpan(4, late)))).Message);
    }
}
