using Reel.Model;
using Reel.Training;
using Reel.World;
using static TorchSharp.torch;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class TrainingRecipeTests
{
    private static ReelModel TestModel(ModelConfig? config = null) => ReelModel.Create(config ?? ModelConfig.Test, seed: 3);

    private static TrainingSettings DitSettings(ConditioningMix modes, int cachedClips = 0) => new()
    {
        Target = TrainingTarget.Dit, Steps = 10, BatchSize = 4, Seed = 5, Modes = modes, CachedClips = cachedClips,
    };

    [Fact]
    public void Explicit_attention_equals_libtorchs_scaled_dot_product_attention_with_a_mask()
    {
        using var q = TestModels.Noise(1, 2, 2, 24, 8);
        using var k = TestModels.Noise(2, 2, 2, 7, 8);
        using var v = TestModels.Noise(3, 2, 2, 7, 8);
        using var mask = tensor(new[] { true, true, true, false, true, false, false }).view(1, 1, 1, 7).expand(2, 1, 1, 7);
        using var expected = nn.functional.scaled_dot_product_attention(q, k, v, mask);
        using var explicitly = MultiHeadAttention.Attend(q, k, v, mask);
        Assert.True(TestModels.MaxDifference(expected, explicitly) < 1e-5f);
    }

    [Fact]
    public void A_dit_computing_in_bfloat16_over_float32_weights_stays_close_and_trains_its_float32_weights()
    {
        using var model = TestModels.Active();
        using var x = TestModels.Noise(4, 2, model.Config.LatentChannels, 3, 8, 8);
        using var t = rand(2, 3, generator: new Generator(5, CPU));
        using var caption = model.CaptionEncoder.Encode(["a red disc slides left", "a blue square falls"]);
        using var exact = model.Dit.forward(x, t, caption.Tokens, caption.Mask).detach();
        model.Dit.ComputeType = ScalarType.BFloat16;
        using var mixed = model.Dit.forward(x, t, caption.Tokens, caption.Mask);
        Assert.Equal(ScalarType.Float32, mixed.dtype);
        Assert.True(TestModels.MaxDifference(exact, mixed) < 0.05f * exact.abs().max().item<float>(), $"{TestModels.MaxDifference(exact, mixed)}");
        mixed.square().mean().backward();
        var parameters = model.Dit.parameters().ToList();
        Assert.All(parameters, p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.Contains(parameters, p => p.grad is { } g && g.abs().max().item<float>() > 0);
    }

    [Theory]
    [InlineData(CaptionConditioning.Pooled)]
    [InlineData(CaptionConditioning.Both)]
    public void Every_caption_pathway_makes_the_caption_change_the_velocity(CaptionConditioning pathway)
    {
        using var model = ReelModel.Create(ModelConfig.Test with { CaptionConditioning = pathway }, seed: 2);
        using (no_grad())
        {
            var generator = new Generator(7, CPU);
            foreach (var p in model.Dit.parameters().Where(p => p.abs().max().item<float>() == 0)) p.copy_(randn(p.shape, generator: generator) * 0.05);
        }
        using var x = TestModels.Noise(4, 1, model.Config.LatentChannels, 3, 8, 8);
        using var t = full(new long[] { 1, 3 }, 0.5f);
        using var red = model.CaptionEncoder.Encode(["a red disc slides left"]);
        using var blue = model.CaptionEncoder.Encode(["a blue square falls"]);
        using var noGrad = no_grad();
        Assert.True(TestModels.MaxDifference(model.Dit.forward(x, t, red.Tokens, red.Mask), model.Dit.forward(x, t, blue.Tokens, blue.Mask)) > 1e-4f);
    }

    [Fact]
    public void Windows_that_start_inside_a_clip_always_hand_over_their_first_frames_and_text_to_video_gives_none()
    {
        using var all = Trainer.Start(TestModel(), DitSettings(ConditioningMix.All));
        var windows = Enumerable.Range(0, 200).Select(all.ConditioningOf).ToList();
        Assert.Contains(windows, w => w.Offset > 0);
        Assert.Contains(windows, w => w.Offset == 0 && w.Given.Any(g => !g.Any(x => x)));
        Assert.All(windows.Where(w => w.Offset > 0), w => Assert.All(w.Given, g => Assert.True(g[0])));
        Assert.All(windows.SelectMany(w => w.Given.Select((g, i) => (g, t: w.Timesteps[i]))),
            c => Assert.All(c.g.Zip(c.t), f => Assert.True(f.First ? f.Second <= 0.05f : f.Second > 0)));

        using var textOnly = Trainer.Start(TestModel(), DitSettings(ConditioningMix.TextToVideoOnly));
        Assert.All(Enumerable.Range(0, 50).Select(textOnly.ConditioningOf), w =>
        {
            Assert.Equal(0, w.Offset);
            Assert.All(w.Given, g => Assert.DoesNotContain(true, g));
        });
    }

    [Fact]
    public void A_fixed_batch_keeps_its_clips_but_sees_them_at_new_noise_levels_every_step()
    {
        using var trainer = Trainer.Start(TestModel(), DitSettings(ConditioningMix.TextToVideoOnly) with { FixedBatch = true });
        var firstClip = Enumerable.Range(0, 20).Select(step => trainer.ConditioningOf(step).Timesteps[0][0]).ToList();
        Assert.True(firstClip.Distinct().Count() > 15, string.Join(", ", firstClip));
        Assert.Equal(trainer.ClipsOfStep(0).Select(c => c.Caption), trainer.ClipsOfStep(7).Select(c => c.Caption));
    }

    [Fact]
    public void The_ema_warms_up_so_a_short_run_does_not_sample_its_initialisation()
    {
        var settings = DitSettings(ConditioningMix.TextToVideoOnly) with { EmaDecay = 0.998 };
        var kept = Enumerable.Range(0, 600).Aggregate(1.0, (share, step) => share * settings.EmaDecayAt(step));
        Assert.True(kept < 0.01, $"{kept:0.000} of the initialisation left after 600 steps");
        Assert.Equal(0.998, settings.EmaDecayAt(100_000));
        Assert.True(settings.EmaDecayAt(0) < 0.2);
    }

    [Fact]
    public void A_dit_trained_beside_a_frozen_caption_encoder_taken_from_another_model_leaves_the_encoder_as_it_came()
    {
        using var donor = ReelModel.Create(ModelConfig.Test, seed: 9);
        var model = TestModel();
        model.UseCaptionEncoder(donor);
        static float[] Weights(nn.Module module) => module.parameters().SelectMany(p => p.detach().flatten().data<float>().ToArray()).ToArray();
        Assert.Equal(Weights(donor.CaptionEncoder), Weights(model.CaptionEncoder));
        var dit = Weights(model.Dit);

        using var trainer = Trainer.Start(model, DitSettings(ConditioningMix.TextToVideoOnly) with { FreezeCaptionEncoder = true, LearningRate = 1e-2, WarmupSteps = 1 });
        for (var i = 0; i < 3; i++) trainer.TrainStep();
        Assert.Equal(Weights(donor.CaptionEncoder), Weights(model.CaptionEncoder));
        Assert.NotEqual(dit, Weights(model.Dit));

        using var other = ReelModel.Create(ModelConfig.Test with { CaptionWidth = 16 }, seed: 9);
        Assert.Throws<ModelException>(() => model.UseCaptionEncoder(other));
    }

    [Fact]
    public void A_stopped_ablation_run_continues_from_its_checkpoint_to_the_weights_of_an_unstopped_one()
    {
        using var source = TestModel();
        var (root, cache) = (TestModels.TempFolder(), TestModels.TempFolder());
        var settings = new AblationSettings { Steps = 200, BatchSize = 2, CachedClips = 4, Seed = 1 };
        var variant = Ablations.Named(Ablations.Baseline);
        string Train(string name, CancellationToken cancel, Action<string>? log = null)
        {
            var weights = Path.Combine(root, name, "weights");
            Ablations.Train(variant, source, settings, weights, Path.Combine(root, name, "run"), cache, log, cancel);
            return weights;
        }

        var whole = Train("whole", CancellationToken.None);
        using var stop = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => Train("stopped", stop.Token, line => { if (line.Contains("step 100/")) stop.Cancel(); }));
        Assert.True(Directory.Exists(Path.Combine(root, "stopped", "run", TrainingLoop.CheckpointFolder)));
        var resumed = Train("stopped", CancellationToken.None);

        using var a = ReelModel.Load(whole);
        using var b = ReelModel.Load(resumed);
        foreach (var (x, y) in a.Dit.parameters().Zip(b.Dit.parameters())) Assert.Equal(0f, TestModels.MaxDifference(x, y));
        Assert.Equal(200, File.ReadLines(Path.Combine(root, "stopped", "run", TrainingLoop.LossFile)).Count() - 1);
    }

    [Fact]
    public void Encoding_a_latent_cache_in_bfloat16_leaves_the_models_vae_weights_exactly_as_they_were()
    {
        using var model = TestModel();
        var before = model.Vae.parameters().Select(p => p.detach().clone()).ToList();
        using (LatentCache.Open(model, TestModels.TempFolder(), WorldOptions.SingleObject, [model.Config.Sizes[0]], 2, 2, 9, ScalarType.BFloat16)) { }
        foreach (var (was, now) in before.Zip(model.Vae.parameters()))
        {
            Assert.Equal(ScalarType.Float32, now.dtype);
            Assert.Equal(0f, TestModels.MaxDifference(was, now));
            was.Dispose();
        }
    }

    [Fact]
    public void A_latent_cache_is_encoded_once_and_holds_the_vae_latents_of_the_clips_it_renders_again()
    {
        var root = TestModels.TempFolder();
        using var model = TestModel();
        var size = model.Config.Sizes[0];
        using var cache = LatentCache.Open(model, root, WorldOptions.SingleObject, [size], 6, 3, 9, ScalarType.Float32);
        using var batch = cache.At(step: 4, batchSize: 3, latentFrames: 2);
        Assert.Equal(new long[] { 3, model.Config.LatentChannels, 2, size.Height / 4, size.Width / 4 }, batch.Latents.shape);
        using var encoded = model.EncodeLatents(batch.Pixels(1));
        Assert.True(TestModels.MaxDifference(encoded[.., .., ..2], batch.Latents[1..2]) < 1e-5f);
        Assert.All(cache.Scenes(4, 3), clip => Assert.Single(clip.Spec.Objects));
        Assert.Equal(batch.Captions, cache.Scenes(4, 3).Select(c => c.Caption));

        var written = File.GetLastWriteTimeUtc(Path.Combine(cache.Folder, "complete"));
        using var again = LatentCache.Open(model, root, WorldOptions.SingleObject, [size], 6, 3, 9, ScalarType.Float32);
        Assert.Equal(cache.Folder, again.Folder);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(again.Folder, "complete")));
        using var same = again.At(4, 3, 2);
        Assert.Equal(0f, TestModels.MaxDifference(batch.Latents, same.Latents));

        using var other = LatentCache.Open(model, root, WorldOptions.Full, [size], 6, 3, 9, ScalarType.Float32);
        Assert.NotEqual(cache.Folder, other.Folder);
    }

    [Fact]
    public void A_stopped_latent_cache_encoding_keeps_its_finished_shards_and_encodes_only_the_rest()
    {
        var root = TestModels.TempFolder();
        using var model = TestModel();
        VideoSize[] sizes = [model.Config.Sizes[0], model.Config.Sizes[1]];
        LatentCache Open() => LatentCache.Open(model, root, WorldOptions.SingleObject, sizes, 6, 3, 9, ScalarType.Float32);
        string folder;
        var steps = Enumerable.Range(0, 6).ToArray(); // each step draws one of the two sizes
        List<Tensor> whole;
        using (var cache = Open())
        {
            folder = cache.Folder;
            whole = steps.Select(step => { using var b = cache.At(step, 3, 2); return b.Latents.clone(); }).ToList();
        }
        // What a process stopped while it encoded the second size leaves behind.
        var partial = folder + ".partial";
        Directory.Move(folder, partial);
        File.Delete(Path.Combine(partial, "complete"));
        File.Delete(Path.Combine(partial, $"latents-{sizes[1]}-0.safetensors"));
        File.Delete(Path.Combine(partial, $"captions-{sizes[1]}.json"));
        var firstShard = $"latents-{sizes[0]}-0.safetensors";
        var encoded = File.GetLastWriteTimeUtc(Path.Combine(partial, firstShard));

        using var resumed = Open();
        Assert.Equal(folder, resumed.Folder);
        Assert.False(Directory.Exists(partial));
        Assert.Equal(encoded, File.GetLastWriteTimeUtc(Path.Combine(folder, firstShard)));
        foreach (var (step, latents) in steps.Zip(whole))
        {
            using var batch = resumed.At(step, 3, 2);
            Assert.Equal(0f, TestModels.MaxDifference(latents, batch.Latents));
            latents.Dispose();
        }
    }

    [Fact]
    public void Training_from_a_latent_cache_lowers_the_loss_on_a_fixed_batch()
    {
        var settings = DitSettings(ConditioningMix.TextToVideoOnly, cachedClips: 8) with
        {
            Steps = 80, LearningRate = 2e-3, WarmupSteps = 2, FixedBatch = true, Sizes = [ModelConfig.Test.Sizes[0]],
        };
        var root = TestModels.TempFolder();
        using var trainer = Trainer.Start(TestModel(), settings, root);
        var model = trainer.Model;
        // The batch's loss at fixed noise and noise levels: every step draws new levels, so step losses alone are too noisy to compare.
        using var cache = LatentCache.Open(model, root, settings.World, settings.Sizes!, 8, model.Config.ChunkLatentFrames, settings.Seed, settings.ComputeType);
        using var batch = cache.At(0, settings.BatchSize, model.Config.ChunkLatentFrames);
        using var noise = randn(batch.Latents.shape, generator: new Generator(11));
        using var levels = full([settings.BatchSize, model.Config.ChunkLatentFrames], 0.6f);
        using var free = ones([settings.BatchSize, model.Config.ChunkLatentFrames], ScalarType.Bool);
        double ProbeLoss()
        {
            using var noGrad = no_grad();
            using var loss = Trainer.FlowMatchingLoss(model.Dit, model.CaptionEncoder, batch.Latents, noise, levels, free, batch.Captions);
            return loss.item<float>();
        }
        var before = ProbeLoss();
        for (var i = 0; i < settings.Steps; i++) trainer.TrainStep();
        var after = ProbeLoss();
        Assert.True(after < 0.9 * before, $"{before:0.000} → {after:0.000}");
    }

    [Fact]
    public void After_the_convolution_check_a_training_vae_computes_every_convolution_and_its_gradients_as_float64_does()
    {
        using var model = TestModel();
        model.Vae.VerifyConvolutions(gradients: true);
        Assert.All(model.Vae.ConvolutionShapes.Distinct(), shape => Assert.True(ConvolutionCheck.Agrees(shape, ScalarType.Float32, gradients: true), $"{shape}"));
    }
}
