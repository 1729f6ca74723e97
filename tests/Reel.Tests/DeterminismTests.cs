using System.Text.Json;
using Reel.Model;

namespace Reel.Tests;

public class DeterminismTests
{
    private static GenerationRequest Request(ulong seed) => new()
    {
        Prompt = "two discs bounce", Size = new VideoSize(48, 32), Frames = 29, Seed = seed, Steps = 3,
    };

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Chunks_run_one_by_one_on_separate_model_instances_equal_a_one_shot_run()
    {
        using var model = TestModels.Active(seed: 8);
        var folder = TestModels.TempFolder();
        model.Save(folder);
        using var oneShot = new VideoGenerator(ReelModel.Load(folder)).GenerateLatents(Request(5));

        // Each chunk on a freshly loaded model, as if each ran in another process, handed only the overlap it needs.
        var plan = new VideoGenerator(model).Plan(Request(5));
        Assert.True(plan.Chunks.Count >= 3);
        TorchSharp.torch.Tensor? video = null;
        foreach (var chunk in plan.Chunks)
        {
            using var instance = ReelModel.Load(folder);
            using var latents = new VideoGenerator(instance).GenerateChunk(Request(5), chunk, video);
            var next = VideoGenerator.Stitch(video, chunk, latents);
            video?.Dispose();
            video = next;
        }
        Assert.Equal(LatentDigest.Of(oneShot), LatentDigest.Of(video!));
        video!.Dispose();
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void The_same_request_and_seed_give_the_same_latents_and_another_seed_does_not()
    {
        using var model = TestModels.Active(seed: 8);
        var generator = new VideoGenerator(model);
        using var a = generator.GenerateLatents(Request(5));
        using var b = generator.GenerateLatents(Request(5));
        using var c = generator.GenerateLatents(Request(6));
        Assert.Equal(LatentDigest.Of(a), LatentDigest.Of(b));
        Assert.NotEqual(LatentDigest.Of(a), LatentDigest.Of(c));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void A_model_with_correlated_noise_samples_with_it_after_a_save_and_load_and_stays_deterministic()
    {
        using var independent = TestModels.Active(seed: 8);
        using var correlated = TestModels.Active(seed: 8, TestModels.Config with { NoiseFrameCorrelation = 0.5 });
        var folder = TestModels.TempFolder();
        correlated.Save(folder);
        using var loaded = ReelModel.Load(folder);
        Assert.Equal(0.5, loaded.Config.NoiseFrameCorrelation);
        using var fromFolder = new VideoGenerator(loaded).GenerateLatents(Request(5));
        using var inMemory = new VideoGenerator(correlated).GenerateLatents(Request(5));
        using var uncorrelated = new VideoGenerator(independent).GenerateLatents(Request(5));
        Assert.Equal(LatentDigest.Of(inMemory), LatentDigest.Of(fromFolder));
        Assert.NotEqual(LatentDigest.Of(uncorrelated), LatentDigest.Of(fromFolder));
    }

    [Fact]
    public void Two_processes_with_the_same_seed_and_thread_count_give_bit_identical_latents()
    {
        using var model = TestModels.Active(seed: 9);
        var folder = TestModels.TempFolder();
        model.Save(folder);
        string Digest(string seed)
        {
            var output = Path.Combine(folder, $"{Guid.NewGuid():N}.mp4");
            var run = ReelProcess.Run("generate", "a blue square falls", "-o", output, "--weights", folder, "--seed", seed, "--seconds", "3", "--threads", "1", "--json");
            Assert.True(run.ExitCode == 0, run.Stderr);
            return JsonDocument.Parse(run.Stdout).RootElement.GetProperty("latentSha256").GetString()!;
        }
        var first = Digest("17");
        Assert.Equal(first, Digest("17"));
        Assert.NotEqual(first, Digest("18"));
    }
}
