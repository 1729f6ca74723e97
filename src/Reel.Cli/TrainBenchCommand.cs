using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Reel.Model;
using Reel.Training;
using static TorchSharp.torch;

namespace Reel.Cli;

/// <summary>
/// <c>reel bench train</c>: DiT training throughput on this machine, the way the shipped checkpoint was trained (every
/// batch rendered and encoded, float32) against the way it trains now (a latent cache, activations in the precision
/// measured faster). Samples per second over the same steps after a warm-up.
/// </summary>
public static class TrainBenchCommand
{
    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "Timed steps per setting", DefaultValueFactory = _ => 20 };
        var batch = new Option<int>("--batch") { Description = "Clips per step", DefaultValueFactory = _ => 16 };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var model = new ModelOptions();
        var command = new Command("train", "DiT training samples per second: rendered float32 batches against cached latents in the faster precision")
        {
            steps, batch, json,
        };
        model.AddTo(command);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(() =>
        {
            using var source = model.Open(result);
            var (count, size) = (Math.Max(1, result.GetValue(steps)), Math.Max(1, result.GetValue(batch)));
            var timing = Trainer.MeasurePrecision(source.Config, TrainingTarget.Dit, size);
            var figures = new[]
            {
                Measure("rendered, float32", source, new() { CachedClips = 0, ComputeType = ScalarType.Float32 }, count, size, cancel),
                Measure($"cached, {timing.Faster.ToString().ToLowerInvariant()}", source, new() { CachedClips = 8 * size, ComputeType = timing.Faster },
                    count, size, cancel),
            };
            var report = new TrainBench(source.Config.Name, get_num_threads(), size, count, timing, figures,
                Math.Round(figures[1].SamplesPerSecond / figures[0].SamplesPerSecond, 2));
            Console.WriteLine(result.GetValue(json) ? JsonSerializer.Serialize(report, CommandErrors.Json)
                : string.Join('\n', [$"{report.Config}, {report.Threads} threads, batch {size}, {count} steps; one step: {timing}",
                    .. figures.Select(f => $"{f.Setting,-22} {f.SamplesPerSecond,7:0.0} samples/s"), $"speedup {report.Speedup}×"]));
            return Task.CompletedTask;
        }));
        return command;
    }

    private sealed record Setting
    {
        public required int CachedClips { get; init; }
        public required ScalarType ComputeType { get; init; }
    }

    private static TrainFigure Measure(string name, ReelModel source, Setting setting, int steps, int batch, CancellationToken cancel)
    {
        Console.Error.WriteLine($"bench train: {name}, {steps} steps");
        var model = ReelModel.Create(source.Config);
        model.UseVae(source);
        var settings = new TrainingSettings
        {
            Target = TrainingTarget.Dit, Steps = steps + 3, BatchSize = batch, CachedClips = setting.CachedClips, ComputeType = setting.ComputeType,
        };
        var cacheRoot = Directory.CreateTempSubdirectory("reel-bench-cache-").FullName;
        try
        {
            using var trainer = Trainer.Start(model, settings, cacheRoot);
            for (var i = 0; i < 3; i++) trainer.TrainStep();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < steps; i++)
            {
                cancel.ThrowIfCancellationRequested();
                trainer.TrainStep();
            }
            return new TrainFigure(name, Math.Round(steps * batch / clock.Elapsed.TotalSeconds, 1));
        }
        finally
        {
            model.Dispose();
            Directory.Delete(cacheRoot, recursive: true);
        }
    }

    private sealed record TrainFigure(string Setting, double SamplesPerSecond);

    private sealed record TrainBench(string Config, int Threads, int Batch, int Steps, PrecisionTiming Step, TrainFigure[] Figures, double Speedup);
}
