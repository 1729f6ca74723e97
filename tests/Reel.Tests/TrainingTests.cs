using System.Diagnostics;
using System.Globalization;
using Reel.Model;
using Reel.Training;
using static TorchSharp.torch;

namespace Reel.Tests;

public class TrainingTests
{
    private static TrainingSettings Settings(TrainingTarget target, int steps, bool fixedBatch = false) => new()
    {
        Target = target, Steps = steps, BatchSize = 2, LearningRate = 2e-3, WarmupSteps = 2, Seed = 5, FixedBatch = fixedBatch,
    };

    private static ReelModel VaeTrained()
    {
        var folder = TestModels.TempFolder();
        using (var vae = Trainer.Start(ReelModel.Create(ModelConfig.Test, seed: 3), Settings(TrainingTarget.Vae, 3)))
        {
            while (vae.Step < 3) vae.TrainStep();
            vae.Export(folder);
        }
        return ReelModel.Load(folder);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void A_precision_far_slower_than_the_other_is_run_once_and_loses()
    {
        var runs = new Dictionary<ScalarType, int> { [ScalarType.Float32] = 0, [ScalarType.BFloat16] = 0 };
        var timing = PrecisionProbe.Measure(type =>
        {
            runs[type]++;
            Thread.Sleep(type == ScalarType.Float32 ? 2 : 200);
        });
        Assert.Equal(4, runs[ScalarType.Float32]);
        Assert.Equal(1, runs[ScalarType.BFloat16]);
        Assert.Equal(ScalarType.Float32, timing.Faster);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Theory]
    [InlineData(TrainingTarget.Vae)]
    [InlineData(TrainingTarget.Dit)]
    public void Training_steps_on_a_fixed_batch_lower_the_loss(TrainingTarget target)
    {
        var model = target == TrainingTarget.Vae ? ReelModel.Create(ModelConfig.Test, seed: 3) : VaeTrained();
        using var trainer = Trainer.Start(model, Settings(target, 40, fixedBatch: true));
        var losses = Enumerable.Range(0, 40).Select(_ => trainer.TrainStep()).ToArray();
        Assert.True(losses[^5..].Average() < 0.8 * losses[..5].Average(), string.Join(", ", losses.Select(l => l.ToString("0.000"))));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void The_scale_equivariance_term_adds_its_weight_times_the_half_size_reconstruction_error_to_the_vae_loss()
    {
        double FirstLoss(double weight)
        {
            using var trainer = Trainer.Start(ReelModel.Create(ModelConfig.Test, seed: 3), Settings(TrainingTarget.Vae, 2) with { ScaleEquivarianceWeight = weight });
            return trainer.TrainStep();
        }
        var (plain, once, twice) = (FirstLoss(0), FirstLoss(1), FirstLoss(2));
        Assert.True(once - plain > 1e-3, $"{plain} {once}");
        Assert.Equal(2 * (once - plain), twice - plain, 1e-5);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Theory]
    [InlineData(TrainingTarget.Vae)]
    [InlineData(TrainingTarget.Dit)]
    public void A_run_stopped_and_resumed_has_the_uninterrupted_loss_curve(TrainingTarget target)
    {
        string Run(bool interrupt)
        {
            var folder = TestModels.TempFolder();
            var model = target == TrainingTarget.Vae ? ReelModel.Create(ModelConfig.Test, seed: 3) : VaeTrained();
            using (var trainer = Trainer.Start(model, Settings(target, 8)))
                TrainingLoop.Run(trainer, folder, TimeSpan.FromHours(1), () => interrupt && trainer.Step == 4);
            if (interrupt)
            {
                using var resumed = Trainer.Resume(Path.Combine(folder, TrainingLoop.CheckpointFolder));
                Assert.Equal(4, resumed.Step);
                TrainingLoop.Run(resumed, folder, TimeSpan.FromHours(1), () => false);
            }
            return File.ReadAllText(Path.Combine(folder, TrainingLoop.LossFile));
        }
        var straight = Run(interrupt: false);
        Assert.Equal(9, straight.Trim().Split('\n').Length);
        Assert.Equal(straight, Run(interrupt: true));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void A_resumed_run_given_a_shorter_schedule_decays_toward_its_final_rate_by_the_new_end()
    {
        var folder = TestModels.TempFolder();
        using (var trainer = Trainer.Start(ReelModel.Create(ModelConfig.Test, seed: 3), Settings(TrainingTarget.Vae, 100)))
            TrainingLoop.Run(trainer, folder, TimeSpan.FromHours(1), () => trainer.Step == 4);
        var checkpoint = Path.Combine(folder, TrainingLoop.CheckpointFolder);
        Assert.Throws<ModelException>(() => Trainer.Resume(checkpoint, steps: 4));
        using var resumed = Trainer.Resume(checkpoint, steps: 10);
        TrainingLoop.Run(resumed, folder, TimeSpan.FromHours(1), () => false);
        var rates = File.ReadLines(Path.Combine(folder, TrainingLoop.LossFile)).Skip(1).Select(l => double.Parse(l.Split(',')[2], CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(10, rates.Length);
        var original = Settings(TrainingTarget.Vae, 100);
        Assert.Equal(original.LearningRateAt(3), rates[3]);
        Assert.Equal(resumed.Settings.LearningRateAt(4), rates[4]);
        Assert.True(rates[^1] < 0.1 * original.LearningRateAt(9), $"{rates[^1]}");
    }

    [Fact]
    public void A_killed_training_process_resumes_from_its_checkpoint_bit_for_bit()
    {
        var (killed, straight) = (TestModels.TempFolder(), TestModels.TempFolder());
        string[] Args(string folder, params string[] more) =>
            ["train", "vae", "--config", "test", "--steps", "150", "--batch", "2", "--warmup", "5", "--threads", "1", "--precision", "float32", "--checkpoints", folder, .. more];

        using (var process = Process.Start(ReelProcess.StartInfo(Args(killed)))!)
        {
            var losses = Path.Combine(killed, TrainingLoop.LossFile);
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (DateTime.UtcNow < deadline && !(File.Exists(losses) && new FileInfo(losses).Length > 200)) Thread.Sleep(50);
            Process.Start("kill", ["-TERM", process.Id.ToString()]).WaitForExit();
            Assert.True(process.WaitForExit(60_000));
            Assert.Equal(0, process.ExitCode);
        }
        var stoppedAt = File.ReadAllLines(Path.Combine(killed, TrainingLoop.LossFile)).Length - 1;
        Assert.InRange(stoppedAt, 1, 149);
        var resume = ReelProcess.Run(Args(killed, "--resume"));
        Assert.True(resume.ExitCode == 0, resume.Stderr);
        var full = ReelProcess.Run(Args(straight));
        Assert.True(full.ExitCode == 0, full.Stderr);
        Assert.Equal(File.ReadAllText(Path.Combine(straight, TrainingLoop.LossFile)), File.ReadAllText(Path.Combine(killed, TrainingLoop.LossFile)));

        var again = ReelProcess.Run(Args(straight));
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("--resume", again.Stderr);
    }

    [Fact]
    public async Task A_terminated_ablation_process_writes_its_checkpoint_and_the_same_command_continues_from_it()
    {
        var (weights, home, ablation) = (TestModels.TempFolder(), TestModels.TempFolder(), TestModels.TempFolder());
        using (var model = ReelModel.Create(ModelConfig.Test, seed: 3)) model.Save(weights);
        string[] args = ["ablate", "--only", "baseline", "--steps", "100000", "--batch", "2", "--clips", "4", "--cases", "1", "--precision", "float32",
            "--weights", weights, "--prompts", Path.Combine(TestModels.RepositoryRoot(), "eval", "heldout.tsv"), "--out", ablation];
        ProcessStartInfo Start()
        {
            var start = ReelProcess.StartInfo(args);
            start.Environment["HOME"] = home; // the latent cache lives under it
            return start;
        }
        var run = Path.Combine(ablation, "runs", "baseline");
        using (var process = Process.Start(Start())!)
        {
            try
            {
                var stderr = process.StandardError.ReadToEndAsync();
                var deadline = DateTime.UtcNow.AddMinutes(2);
                var losses = Path.Combine(run, TrainingLoop.LossFile);
                while (DateTime.UtcNow < deadline && !(File.Exists(losses) && File.ReadLines(losses).Count() > 20)) Thread.Sleep(50);
                Process.Start("kill", ["-TERM", process.Id.ToString()]).WaitForExit();
                Assert.True(process.WaitForExit(60_000));
                Assert.True(process.ExitCode == 130, await stderr);
            }
            finally
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
            }
        }
        var stoppedAt = File.ReadLines(Path.Combine(run, TrainingLoop.LossFile)).Count() - 1;
        Assert.InRange(stoppedAt, 20, 99_999);

        using var again = Process.Start(Start())!;
        var resumed = $"baseline: resuming at step {stoppedAt}.";
        string? line;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while ((line = await again.StandardError.ReadLineAsync(timeout.Token)) is not null && !line.Contains(resumed)) { }
        }
        finally
        {
            if (!again.HasExited) again.Kill(entireProcessTree: true);
        }
        Assert.Equal(resumed, line);
    }
}
