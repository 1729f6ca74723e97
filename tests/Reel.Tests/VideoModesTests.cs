using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Tests;

/// <summary>The user-facing modes at the latent level, where exactness can be checked bit for bit.</summary>
[Trait(Tier.Name, Tier.Fast)]
public class VideoModesTests
{
    private static GenerationRequest Request(int frames) => new()
    {
        Prompt = "a yellow triangle", Size = new VideoSize(32, 32), Frames = frames, Seed = 31, Steps = 3,
    };

    [Fact]
    public void A_three_chunk_video_has_the_planned_frames_and_each_chunk_starts_with_the_last_latents_of_the_one_before()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        var request = Request(25); // 7 latent frames: chunks [0, 3), [2, 5), [4, 7)
        var plan = generator.Plan(request);
        Assert.Equal(3, plan.Chunks.Count);
        Tensor? video = null;
        Tensor? before = null;
        foreach (var chunk in plan.Chunks)
        {
            var latents = generator.GenerateChunk(request, chunk, video);
            if (before is not null)
                Assert.Equal(0f, TestModels.MaxDifference(latents[.., .., ..chunk.GivenFromPrevious], before[.., .., ^chunk.GivenFromPrevious..]));
            var next = VideoGenerator.Stitch(video, chunk, latents);
            (video, before) = (next, latents);
        }
        Assert.Equal(plan.LatentFrames, video!.shape[2]);
        Assert.Equal(25, generator.Decode(video).Sum(f => f.shape[0]));
    }

    [Fact]
    public void Image_to_video_gives_the_encoded_image_as_the_first_latent_frame()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        using var image = TestModels.Noise(41, 1, 3, 1, 32, 32).tanh();
        using var job = new VideoModes(generator, model.Config).ImageToVideo(Request(17), image);
        using var latents = generator.GenerateLatents(job.Request);
        using var encoded = model.EncodeLatents(image);
        Assert.Equal(0f, TestModels.MaxDifference(latents[.., .., ..1], encoded));
    }

    [Fact]
    public void A_loop_ends_with_its_own_first_frames_encoded_in_place_and_drops_them()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        var config = model.Config;
        using var job = new VideoModes(generator, config).Loop(Request(25), image: null);
        var context = config.TemporalCompression * config.ContextLatentFrames;
        Assert.Equal(25 + context, job.Request.Frames);
        Assert.Equal(context, job.DropTail);
        Assert.Equal(25, job.OutputFrames);

        // The head is the first chunk as generated on its own; the tail is given from the pixels those latents decode to.
        var first = generator.Plan(Request(25)).Chunks[0];
        using var alone = generator.GenerateChunk(Request(25), first, null);
        var head = job.Request.Given.Single(s => s.Start == 0);
        Assert.Equal(0f, TestModels.MaxDifference(head.Latents, alone[.., .., ..head.End]));
        var tail = job.Request.Given.Single(s => s.Start > 0);
        Assert.Equal(FrameCount.ToLatent(config, job.Request.Frames), tail.End);

        using var latents = generator.GenerateLatents(job.Request);
        Assert.Equal(0f, TestModels.MaxDifference(latents[.., .., tail.Start..], tail.Latents));
        Assert.Equal(0f, TestModels.MaxDifference(latents[.., .., ..head.End], head.Latents));
    }

    [Fact]
    public void Extension_and_connection_keep_the_sources_frames_and_generate_from_their_context()
    {
        using var model = TestModels.Active();
        var generator = new VideoGenerator(model);
        var modes = new VideoModes(generator, model.Config);
        using var a = TestModels.Noise(42, 1, 3, 17, 32, 32).tanh();
        using var b = TestModels.Noise(43, 1, 3, 9, 32, 32).tanh();

        // A file's extension continues from its encoded latents and keeps its own frames before the new ones.
        using var encoded = modes.Encode(a);
        using var forward = modes.Continue(Request(9), encoded, newFrames: 8, sourcePixels: a);
        Assert.Equal((17 + 8, 17, 17 + 8), (forward.Request.Frames, forward.DropHead, forward.OutputFrames));
        Assert.Equal(0f, TestModels.MaxDifference(forward.Before!, a));
        Assert.Null(forward.OutputLatentFrames(model.Config));

        using var backward = modes.ExtendBackward(Request(9), a, newFrames: 9);
        Assert.Equal((9 + 8, 8, 9 + 17), (backward.Request.Frames, backward.DropTail, backward.OutputFrames));
        Assert.Equal(FrameCount.ToLatent(model.Config, 17), backward.Request.Given.Single().End);

        using var bridge = modes.Connect(Request(9), a, b, bridgeFrames: 8);
        Assert.Equal(17 + 8 + 9, bridge.OutputFrames);
        Assert.Equal(2, bridge.Request.Given.Count);
        Assert.Contains("at least 4 frames", Assert.Throws<ModelException>(() => modes.ExtendBackward(Request(9), a[.., .., ..3], 9)).Message);
    }
}
