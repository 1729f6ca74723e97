using System.CommandLine;
using Reel.Model;
using Reel.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace Reel.Cli;

/// <summary>
/// <c>reel train vae|dit</c>: trains on the procedural world, checkpointing to a folder outside the repository every
/// few minutes and on SIGINT/SIGTERM; <c>--resume</c> continues bit for bit; <c>--init-from</c> warm-starts from a
/// weights folder; <c>--export</c> writes the weights folder for sampling at the end.
/// </summary>
public static class TrainCommand
{
    public static Command Create() => new("train", "Train the VAE or the DiT on the procedural world") { Target(TrainingTarget.Vae), Target(TrainingTarget.Dit) };

    private static Command Target(TrainingTarget target)
    {
        var name = target.ToString().ToLowerInvariant();
        var config = new Option<string>("--config") { Description = "Configuration to train: a preset's name or a .json file of one", DefaultValueFactory = _ => "tiny" };
        var initFrom = new Option<DirectoryInfo?>("--init-from")
        {
            Description = target == TrainingTarget.Dit ? "Weights folder to start from (its VAE is kept frozen; required for a new run)" : "Weights folder to start from",
        };
        var steps = new Option<int?>("--steps") { Description = "Length of the run's schedule in steps (required for a new run; with --resume, a new length from the checkpoint on)" };
        var batch = new Option<int>("--batch") { Description = "Clips per step", DefaultValueFactory = _ => 16 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => 4e-4 };
        var warmup = new Option<int>("--warmup") { Description = "Warm-up steps", DefaultValueFactory = _ => 200 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the data order and noise", DefaultValueFactory = _ => 0 };
        var checkpoints = new Option<DirectoryInfo?>("--checkpoints") { Description = "Run folder (default: ~/.cache/reel/checkpoints/TARGET-CONFIG)" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run saved in the run folder" };
        var minutes = new Option<double>("--checkpoint-minutes") { Description = "Minutes between checkpoints", DefaultValueFactory = _ => 5 };
        var export = new Option<DirectoryInfo?>("--export") { Description = "Write a weights folder for sampling when the run ends" };
        var threads = new Option<int>("--threads") { Description = "Torch threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var precision = new Option<string>("--precision")
        {
            Description = "Activations: auto (both measured at start, the faster kept for the run), float32 or bfloat16", DefaultValueFactory = _ => "auto",
        };
        var scaleEquivariance = new Option<double>("--scale-equivariance")
        {
            Description = "VAE: weight of the term that makes latents pooled 2x in space decode to the pooled clip (0: off)",
        };
        var cachedClips = new Option<int>("--cached-clips") { Description = "DiT: clips per size encoded once and reused (0: render and encode every batch)" };
        var command = new Command(name, $"Train the {name.ToUpperInvariant()}") { config, initFrom, steps, batch, lr, warmup, seed, checkpoints, resume, minutes, export, threads };
        command.Options.Add(precision);
        if (target == TrainingTarget.Dit) command.Options.Add(cachedClips);
        else command.Options.Add(scaleEquivariance);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(() =>
        {
            set_num_threads(result.GetValue(threads));
            var configuration = ModelConfig.Named(result.GetValue(config)!);
            var configName = configuration.Name;
            var runFolder = result.GetValue(checkpoints)?.FullName ?? Path.Combine(
                Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reel", "checkpoints", $"{name}-{configName}");
            var checkpoint = Path.Combine(runFolder, TrainingLoop.CheckpointFolder);
            using var trainer = result.GetValue(resume) ? ResumeFrom(checkpoint, result.GetValue(steps))
                : StartNew(result, target, configuration, checkpoint, initFrom, steps, batch, lr, warmup, seed, precision, cachedClips, scaleEquivariance);

            using var stop = new StopSignals(cancel);
            Report(trainer, runFolder, TimeSpan.FromMinutes(result.GetValue(minutes)), () => stop.Token.IsCancellationRequested);
            if (trainer.Step < trainer.Settings.Steps)
                Console.Error.WriteLine($"Stopped at step {trainer.Step} of {trainer.Settings.Steps}; checkpoint in {checkpoint}. --resume continues.");
            else if (result.GetValue(export) is { } folder)
            {
                trainer.Export(folder.FullName);
                Console.Error.WriteLine($"Exported {WeightsFolder.ContentHash(folder.FullName)} to {folder.FullName}.");
            }
            return Task.CompletedTask;
        }));
        return command;
    }

    private static Trainer ResumeFrom(string checkpoint, int? steps) =>
        Directory.Exists(checkpoint) ? Trainer.Resume(checkpoint, steps, log: Console.Error.WriteLine) : throw new ModelException($"No checkpoint to resume in {checkpoint}.");

    private static Trainer StartNew(ParseResult result, TrainingTarget target, ModelConfig configuration, string checkpoint, Option<DirectoryInfo?> initFrom,
        Option<int?> steps, Option<int> batch, Option<double> lr, Option<int> warmup, Option<ulong> seed, Option<string> precision, Option<int> cachedClips,
        Option<double> scaleEquivariance)
    {
        if (Directory.Exists(checkpoint))
            throw new ModelException($"A run already has a checkpoint in {checkpoint}: add --resume to continue it, or remove it to start over.");
        var stepCount = result.GetValue(steps) ?? throw new ModelException("--steps is required for a new run.");
        if (stepCount < 1 || result.GetValue(batch) < 1) throw new ModelException("--steps and --batch must be at least 1.");
        var from = result.GetValue(initFrom)?.FullName;
        if (target == TrainingTarget.Dit && from is null) throw new ModelException("Training the DiT needs --init-from DIR with a trained VAE.");
        var model = from is null ? ReelModel.Create(configuration) : ReelModel.Load(from);
        if (model.Config.Name != configuration.Name)
            throw new ModelException($"--init-from {from} holds configuration '{model.Config.Name}', not '{configuration.Name}'.");
        if (result.GetValue(cachedClips) < 0) throw new ModelException("--cached-clips must be 0 or more.");
        if (result.GetValue(scaleEquivariance) is < 0 or double.NaN) throw new ModelException("--scale-equivariance must be 0 or more.");
        var computeType = AblateCommand.TrainingPrecision(result.GetValue(precision)!, model.Config, target, result.GetValue(batch));
        return Trainer.Start(model, new TrainingSettings
        {
            Target = target, Steps = stepCount, BatchSize = result.GetValue(batch), LearningRate = result.GetValue(lr),
            WarmupSteps = result.GetValue(warmup), Seed = result.GetValue(seed), ComputeType = computeType, CachedClips = result.GetValue(cachedClips),
            ScaleEquivarianceWeight = result.GetValue(scaleEquivariance),
        }, log: Console.Error.WriteLine);
    }

    /// <summary>A progress bar with loss, samples/s and time left on a terminal; a line every half minute otherwise.</summary>
    private static void Report(Trainer trainer, string runFolder, TimeSpan interval, Func<bool> stop)
    {
        if (Console.IsErrorRedirected)
        {
            var last = DateTime.UtcNow;
            TrainingLoop.Run(trainer, runFolder, interval, stop, p =>
            {
                if (DateTime.UtcNow - last < TimeSpan.FromSeconds(30) && p.Step < p.Steps) return;
                last = DateTime.UtcNow;
                Console.Error.WriteLine($"step {p.Step}/{p.Steps} loss {p.Loss:0.0000} lr {p.LearningRate:0.0e0} {p.SamplesPerSecond:0.0} samples/s, {p.Remaining:hh\\:mm\\:ss} left");
            });
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var bar = context.AddTask("training", maxValue: trainer.Settings.Steps);
                bar.Value = trainer.Step;
                TrainingLoop.Run(trainer, runFolder, interval, stop, p =>
                {
                    bar.Value = p.Step;
                    bar.Description = $"step {p.Step}/{p.Steps} loss {p.Loss:0.0000} {p.SamplesPerSecond:0.0} samples/s";
                });
            });
    }
}
