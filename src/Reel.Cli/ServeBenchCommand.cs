using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Reel.Abstractions;
using Reel.Hosting;
using Reel.Model;
using ScottPlot;
using static TorchSharp.torch;

namespace Reel.Cli;

/// <summary>
/// <c>reel bench serve</c>: what batching the denoising steps of concurrent sessions buys on one model silo. For each
/// configuration, one embedded model silo (this process, fresh weights) serves 1, 2, 4 and 8 concurrent sessions of the
/// same one-chunk request, then the same request one session at a time; beside it the bare model's time for the same
/// work (generate and decode in this process, no silo). Throughput in chunks per second, each session's latency from
/// its creation to its completion.
/// </summary>
public static class ServeBenchCommand
{
    private const string Prompt = "a red ball bouncing";

    /// <summary>Sessions run one after another for the one-at-a-time rate (every one alone on the silo).</summary>
    private const int OneAtATimeSessions = 3;

    public static Command Create()
    {
        var configs = new Option<string>("--configs") { Description = "Configurations, comma-separated (fresh weights)", DefaultValueFactory = _ => "tiny,small" };
        var sessions = new Option<string>("--sessions") { Description = "Concurrent session counts, comma-separated", DefaultValueFactory = _ => "1,2,4,8" };
        var steps = new Option<int?>("--steps") { Description = "Denoising steps per chunk (default: each configuration's)" };
        var threads = new Option<int>("--threads") { Description = "Torch threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var maxBatch = new Option<int>("--max-batch") { Description = "The silo's --max-batch", DefaultValueFactory = _ => 8 };
        var dtype = new Option<string>("--dtype") { Description = "float32 or bfloat16, for the silo and the bare model", DefaultValueFactory = _ => "float32" };
        var json = new Option<FileInfo?>("--json") { Description = "Write every figure to this JSON file" };
        var plot = new Option<FileInfo?>("--plot") { Description = "Write the throughput plot (PNG) here", DefaultValueFactory = _ => new FileInfo("out/bench-serve.png") };
        var command = new Command("serve", "Throughput and latency of 1-8 concurrent sessions on one model silo, against one at a time and the bare model")
        {
            configs, sessions, steps, threads, maxBatch, dtype, json, plot,
        };
        command.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            var counts = ParseCounts(result.GetValue(sessions)!);
            var precision = ModelRuntime.ParseDtype(result.GetValue(dtype)!);
            var figures = new List<ConfigFigure>();
            foreach (var name in result.GetValue(configs)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var config = ModelConfig.Named(name);
                var figure = await MeasureAsync(config, precision, counts, result.GetValue(steps), result.GetValue(threads), result.GetValue(maxBatch), cancel);
                Console.WriteLine(figure.ToText());
                figures.Add(figure);
            }
            var report = new ServeBench(result.GetValue(threads), result.GetValue(maxBatch), ModelRuntime.DtypeName(precision), figures);
            if (result.GetValue(json) is { } path)
            {
                path.Directory?.Create();
                await File.WriteAllTextAsync(path.FullName, JsonSerializer.Serialize(report, CommandErrors.Json), cancel);
            }
            if (result.GetValue(plot) is { } png)
            {
                png.Directory?.Create();
                Plot(report, png.FullName);
                Console.WriteLine($"plot: {png.FullName}");
            }
        }));
        return command;
    }

    private static int[] ParseCounts(string text)
    {
        var counts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, out var n) && n >= 1 ? n : throw new ModelException($"--sessions: '{s}' is not a positive whole number.")).ToArray();
        return counts.Length > 0 ? counts : throw new ModelException("--sessions names no count.");
    }

    private static async Task<ConfigFigure> MeasureAsync(ModelConfig config, ScalarType dtype, int[] counts, int? steps, int threads, int maxBatch, CancellationToken cancel)
    {
        var request = new VideoRequest
        {
            Prompt = Prompt, Width = config.DefaultSize.Width, Height = config.DefaultSize.Height,
            Frames = FrameCount.ToPixel(config, config.ChunkLatentFrames), Seed = 1, Steps = steps,
        };
        Console.Error.WriteLine($"bench serve: {config.Name}, bare model");
        var bare = BareModelSeconds(config, dtype, request, threads);
        var artifacts = Directory.CreateTempSubdirectory("reel-bench-serve-");
        try
        {
            await using var app = ReelHost.Build(o =>
            {
                (o.Model, o.Config, o.Threads, o.Artifacts, o.Dtype) = (true, config.Name, threads, artifacts.FullName, ModelRuntime.DtypeName(dtype));
                (o.MaxSessions, o.MaxBatch) = (counts.Max(), maxBatch);
                (o.SiloPort, o.GatewayPort, o.HttpPort, o.ManagementPort) = (LongBenchCommand.FreePort(), LongBenchCommand.FreePort(), LongBenchCommand.FreePort(), LongBenchCommand.FreePort());
            });
            await app.StartAsync(cancel);
            var grains = app.Services.GetRequiredService<IGrainFactory>();
            var sessions = new ReelSessions(grains);
            await LongBenchCommand.WaitAsync(async () => (await grains.GetGrain<IPoolGrain>("default").Loads()).Count > 0, cancel);
            // A first session warms the silo up (caches, the first allocations); it is not counted.
            await RunAsync(sessions, request, 1, cancel);
            var oneAtATime = new List<SessionRun>();
            for (var i = 0; i < OneAtATimeSessions; i++)
            {
                Console.Error.WriteLine($"bench serve: {config.Name}, one at a time, session {i + 1}/{OneAtATimeSessions}");
                oneAtATime.AddRange(await RunAsync(sessions, request, 1, cancel));
            }
            var sequential = ChunksPerSecond(oneAtATime.Sum(r => r.Chunks), oneAtATime.Sum(r => r.Seconds));
            var concurrent = new List<ConcurrencyFigure>();
            foreach (var n in counts)
            {
                Console.Error.WriteLine($"bench serve: {config.Name}, {n} concurrent");
                var clock = Stopwatch.StartNew();
                var runs = await RunAsync(sessions, request, n, cancel);
                var wall = clock.Elapsed.TotalSeconds;
                var throughput = ChunksPerSecond(runs.Sum(r => r.Chunks), wall);
                var latencies = runs.Select(r => r.Seconds).Order().ToArray();
                concurrent.Add(new ConcurrencyFigure(n, Math.Round(wall, 2), throughput, Math.Round(throughput / sequential, 2),
                    Math.Round(Percentile(latencies, 0.5), 2), Math.Round(Percentile(latencies, 0.95), 2), Phases(runs)));
            }
            await app.StopAsync(cancel);
            var single = oneAtATime.Select(r => r.Seconds).Order().ToArray();
            var singlePhases = Phases(oneAtATime);
            var cluster = Percentile(single, 0.5);
            var top = concurrent.MaxBy(c => c.Sessions)!;
            return new ConfigFigure(config.Name, config.DefaultSize.ToString(), request.Frames!.Value, request.Steps ?? config.DefaultSteps,
                Math.Round(bare, 2), Math.Round(cluster, 2), Math.Round(cluster / bare - 1, 3), sequential, concurrent,
                top.Sessions, top.Speedup, singlePhases);
        }
        finally
        {
            artifacts.Delete(recursive: true);
        }
    }

    /// <summary>The request's work on the model alone: its chunk, then its decode (median of three, after one warm-up).</summary>
    private static double BareModelSeconds(ModelConfig config, ScalarType dtype, VideoRequest request, int threads)
    {
        set_num_threads(threads);
        using var model = ReelModel.Create(config, new ModelRuntime(Dtype: dtype));
        var generator = new VideoGenerator(model);
        var generation = new GenerationRequest
        {
            Prompt = request.Prompt, Size = config.DefaultSize, Frames = request.Frames!.Value, Seed = request.Seed, Steps = request.Steps,
        };
        double Once()
        {
            var clock = Stopwatch.StartNew();
            using var latents = generator.GenerateLatents(generation);
            foreach (var frames in generator.Decode(latents)) frames.Dispose();
            return clock.Elapsed.TotalSeconds;
        }
        Once();
        return Percentile([.. Enumerable.Range(0, 3).Select(_ => Once()).Order()], 0.5);
    }

    /// <summary><paramref name="count"/> sessions of <paramref name="request"/> created at once; each one's chunks and seconds from creation to completion.</summary>
    private static async Task<List<SessionRun>> RunAsync(ReelSessions sessions, VideoRequest request, int count, CancellationToken cancel)
    {
        var created = await Task.WhenAll(Enumerable.Range(0, count).Select(i => sessions.CreateAsync("bench", "default", request with { Seed = (ulong)i + 1 })));
        var runs = new List<SessionRun>();
        foreach (var session in created)
        {
            SessionSnapshot? done = null;
            await LongBenchCommand.WaitAsync(async () => (done = await sessions.GetAsync(session.Key)) is { IsFinished: true }, cancel);
            if (done!.Status != SessionStatus.Completed) throw new ModelException($"A bench session ended {done.Status}: {done.Error?.Message}");
            // Where the time went, from the session's own events: until its chunk started, the chunk, then decode and files.
            var events = (await sessions.WatchAsync(session.Key, 0, TimeSpan.Zero))!.Events;
            var started = events.First(e => e.Message.StartsWith("chunk 1/", StringComparison.Ordinal) && e.Message.EndsWith(" started", StringComparison.Ordinal)).At;
            var committed = events.Last(e => e.Message.EndsWith(" committed", StringComparison.Ordinal)).At;
            runs.Add(new SessionRun(done.Chunks, (done.CompletedAt!.Value - done.CreatedAt).TotalSeconds, (started - done.CreatedAt).TotalSeconds,
                (committed - started).TotalSeconds, (done.CompletedAt!.Value - committed).TotalSeconds));
        }
        return runs;
    }

    /// <summary>Median seconds of each phase: until the chunk started, the chunk, its decode and files.</summary>
    private static PhaseFigure Phases(IReadOnlyList<SessionRun> runs)
    {
        double Median(Func<SessionRun, double> phase) => Math.Round(Percentile([.. runs.Select(phase).Order()], 0.5), 2);
        return new PhaseFigure(Median(r => r.WaitSeconds), Median(r => r.ChunkSeconds), Median(r => r.FinishSeconds));
    }

    private static double ChunksPerSecond(int chunks, double seconds) => Math.Round(chunks / seconds, 3);

    private static double Percentile(double[] sorted, double p) => sorted[(int)Math.Clamp(Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static void Plot(ServeBench report, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (var i = 0; i < report.Configs.Count; i++)
        {
            var figure = report.Configs[i];
            var line = plot.Add.Scatter(figure.Concurrent.Select(c => (double)c.Sessions).ToArray(), figure.Concurrent.Select(c => c.Speedup).ToArray(), palette.GetColor(i));
            line.LegendText = $"{figure.Config} ({figure.Size}, {figure.Steps} steps)";
            line.MarkerSize = 7;
        }
        var one = plot.Add.HorizontalLine(1, color: Colors.Gray);
        one.LinePattern = LinePattern.Dashed;
        plot.Title($"Concurrent sessions on one model silo ({report.Dtype}, {report.Threads} threads, max batch {report.MaxBatch})");
        plot.XLabel("concurrent sessions");
        plot.YLabel("chunks per second / one at a time");
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 900, 500);
    }

    private sealed record SessionRun(int Chunks, double Seconds, double WaitSeconds, double ChunkSeconds, double FinishSeconds);

    private sealed record PhaseFigure(double WaitSeconds, double ChunkSeconds, double FinishSeconds);

    private sealed record ConcurrencyFigure(int Sessions, double WallSeconds, double ChunksPerSecond, double Speedup, double P50Seconds, double P95Seconds,
        PhaseFigure MedianPhases);

    private sealed record ConfigFigure(string Config, string Size, int Frames, int Steps, double BareModelSeconds, double ClusterSeconds,
        double Overhead, double OneAtATimeChunksPerSecond, IReadOnlyList<ConcurrencyFigure> Concurrent, int SpeedupSessions, double Speedup,
        PhaseFigure OneAtATimePhases)
    {
        public string ToText() => string.Join('\n', [
            $"{Config}: {Size}, {Frames} frames (one chunk), {Steps} steps",
            $"  one session: bare model {BareModelSeconds:0.00} s, through the silo {ClusterSeconds:0.00} s (overhead {Overhead:+0.0%;-0.0%})",
            $"  one at a time: {OneAtATimeChunksPerSecond:0.000} chunks/s (median s: wait {OneAtATimePhases.WaitSeconds}, chunk {OneAtATimePhases.ChunkSeconds}, finish {OneAtATimePhases.FinishSeconds})",
            "  sessions  chunks/s  × one at a time  p50 s  p95 s   median s: wait / chunk / decode+files",
            .. Concurrent.Select(c => $"  {c.Sessions,8}  {c.ChunksPerSecond,8:0.000}  {c.Speedup,15:0.00}  {c.P50Seconds,5:0.0}  {c.P95Seconds,5:0.0}" +
                $"   {c.MedianPhases.WaitSeconds} / {c.MedianPhases.ChunkSeconds} / {c.MedianPhases.FinishSeconds}"),
            $"  speedup ({SpeedupSessions} vs one at a time): {Speedup:0.00}×",
        ]);
    }

    private sealed record ServeBench(int Threads, int MaxBatch, string Dtype, IReadOnlyList<ConfigFigure> Configs);
}
