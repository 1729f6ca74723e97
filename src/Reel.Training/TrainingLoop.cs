using System.Diagnostics;
using System.Globalization;

namespace Reel.Training;

public sealed record TrainingProgress(int Step, int Steps, double Loss, double LearningRate, double SamplesPerSecond, TimeSpan Remaining);

/// <summary>
/// Runs a trainer to the end of its schedule or until asked to stop, checkpointing every interval, at the end and on
/// stop, and appending each step's loss to losses.csv beside the checkpoint. A resumed run first cuts the CSV back to
/// the checkpoint's step, so the file reads as if the run had never stopped.
/// </summary>
public static class TrainingLoop
{
    public const string CheckpointFolder = "checkpoint", LossFile = "losses.csv";

    public static void Run(Trainer trainer, string runFolder, TimeSpan checkpointInterval, Func<bool> stopRequested, Action<TrainingProgress>? report = null)
    {
        Directory.CreateDirectory(runFolder);
        var csv = Path.Combine(runFolder, LossFile);
        var kept = File.Exists(csv) ? Rows(csv).Where(r => int.Parse(r[0], CultureInfo.InvariantCulture) < trainer.Step).Select(r => string.Join(',', r)).ToList() : [];
        File.WriteAllLines(csv, kept.Prepend("step,loss,learning_rate"));
        using var log = new StreamWriter(csv, append: true) { AutoFlush = true };
        var sinceCheckpoint = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        var startStep = trainer.Step;
        var steps = trainer.Settings.Steps;
        while (trainer.Step < steps && !stopRequested())
        {
            var step = trainer.Step;
            var lr = trainer.Settings.LearningRateAt(step);
            var loss = trainer.TrainStep();
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{step},{loss:R},{lr:R}"));
            var done = trainer.Step - startStep;
            var perStep = clock.Elapsed / done;
            report?.Invoke(new TrainingProgress(trainer.Step, steps, loss, lr, trainer.Settings.BatchSize / perStep.TotalSeconds, perStep * (steps - trainer.Step)));
            if (sinceCheckpoint.Elapsed >= checkpointInterval)
            {
                log.Flush();
                trainer.SaveCheckpoint(Path.Combine(runFolder, CheckpointFolder));
                sinceCheckpoint.Restart();
            }
        }
        log.Flush();
        trainer.SaveCheckpoint(Path.Combine(runFolder, CheckpointFolder));
    }

    /// <summary>Every step's loss in <paramref name="runFolder"/>'s losses.csv, in step order.</summary>
    public static IReadOnlyList<double> Losses(string runFolder) =>
        Rows(Path.Combine(runFolder, LossFile)).Select(r => double.Parse(r[1], CultureInfo.InvariantCulture)).ToList();

    private static IEnumerable<string[]> Rows(string csv) => File.ReadLines(csv).Skip(1).Select(line => line.Split(','));
}
