using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;
using Reel.Hosting;
using Reel.Model;

namespace Reel.Cli;

/// <summary>
/// <c>reel bench long</c>: long videos. The same request at 1, 2, 4 and 8 chunks through the cluster path (session,
/// state, artifacts in one embedded silo of a child process: time of the first and last chunk, peak memory); that path
/// against `reel generate` for 4 chunks; and the time from a kill -9 of `reel serve` mid-session until the session runs again
/// in a restarted server. Medians of repeats.
/// </summary>
public static class LongBenchCommand
{
    private const string Prompt = "a red ball bouncing";

    public static Command Create()
    {
        var threads = new Option<int>("--threads") { Description = "Torch threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var repeats = new Option<int>("--repeats") { Description = "Repeats per measurement (the median is reported)", DefaultValueFactory = _ => 3 };
        var config = new Option<string>("--config") { Description = "Model configuration (fresh weights)", DefaultValueFactory = _ => "tiny" };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var command = new Command("long", "Per-chunk time and peak memory at 1-8 chunks, cluster path vs generate, kill -9 to running again")
        {
            threads, repeats, config, json,
        };
        command.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            var report = await RunAsync(ModelConfig.Named(result.GetValue(config)!), result.GetValue(threads), Math.Max(1, result.GetValue(repeats)), cancel);
            Console.WriteLine(result.GetValue(json) ? JsonSerializer.Serialize(report, CommandErrors.Json) : report.ToText());
        }));
        return command;
    }

    /// <summary>Hidden: one request through an embedded silo in this process; prints its timings as JSON.</summary>
    public static Command ClusterRun()
    {
        var frames = new Option<int>("--frames") { Required = true };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => Environment.ProcessorCount };
        var config = new Option<string>("--config") { DefaultValueFactory = _ => "tiny" };
        var command = new Command("cluster-run", "One request through an embedded silo; timings as JSON") { frames, threads, config };
        command.Hidden = true;
        command.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            var run = await ClusterRunAsync(ModelConfig.Named(result.GetValue(config)!), result.GetValue(frames), result.GetValue(threads), cancel);
            Console.WriteLine(JsonSerializer.Serialize(run, CommandErrors.Json));
        }));
        return command;
    }

    private static async Task<LongBench> RunAsync(ModelConfig config, int threads, int repeats, CancellationToken cancel)
    {
        // Every length through the cluster path (an embedded silo in a child process), as a tenant's long video runs.
        var lengths = new List<LengthFigure>();
        List<ClusterRunFigure> longest = [];
        foreach (var chunks in new[] { 1, 2, 4, 8 })
        {
            var runs = new List<ClusterRunFigure>();
            for (var i = 0; i < repeats; i++)
            {
                Console.Error.WriteLine($"bench long: {chunks} chunk(s) through the cluster, run {i + 1}/{repeats}");
                runs.Add(await ClusterRunInChildAsync(config, FramesFor(config, chunks), threads, cancel));
            }
            lengths.Add(new LengthFigure(chunks, FramesFor(config, chunks),
                Math.Round(BenchCommand.Median([.. runs.Select(r => r.ChunkSeconds[0])]), 3),
                Math.Round(BenchCommand.Median([.. runs.Select(r => r.ChunkSeconds[^1])]), 3),
                Math.Round(BenchCommand.Median([.. runs.Select(r => r.Seconds / chunks)]), 3),
                BenchCommand.Median([.. runs.Select(r => r.PeakMemoryMiB)])));
            longest = runs;
        }

        var fourChunks = FramesFor(config, 4);
        var direct = new List<double>();
        var cluster = new List<double>();
        for (var i = 0; i < repeats; i++)
        {
            Console.Error.WriteLine($"bench long: 4 chunks, reel generate against the cluster path, run {i + 1}/{repeats}");
            var generate = await GenerateAsync(config, fourChunks, threads, cancel);
            var timings = generate.GetProperty("timings");
            direct.Add(timings.GetProperty("generateSeconds").GetDouble() + timings.GetProperty("writeSeconds").GetDouble());
            cluster.Add((await ClusterRunInChildAsync(config, fourChunks, threads, cancel)).Seconds);
        }
        var (directSeconds, clusterSeconds) = (BenchCommand.Median(direct), BenchCommand.Median(cluster));

        var restarts = new List<RestartFigure>();
        for (var i = 0; i < repeats; i++)
        {
            Console.Error.WriteLine($"bench long: kill -9 of reel serve and restart, run {i + 1}/{repeats}");
            restarts.Add(await KillAndRestartAsync(config, fourChunks, threads, cancel));
        }
        var failovers = new List<double>();
        var fastFailovers = new List<double>();
        if (RedisServer.IsInstalled)
            for (var i = 0; i < repeats; i++)
            {
                Console.Error.WriteLine($"bench long: kill -9 of a clustered model silo, run {i + 1}/{repeats}");
                failovers.Add(await KillAndFailOverAsync(config, fourChunks, threads, fastDetection: false, cancel));
                fastFailovers.Add(await KillAndFailOverAsync(config, fourChunks, threads, fastDetection: true, cancel));
            }

        return new LongBench(config.Name, threads, repeats, lengths,
            Math.Round(Drift([.. longest.Select(r => r.ChunkSeconds)]), 3),
            Math.Round(lengths[^1].PeakMemoryMiB / lengths[0].PeakMemoryMiB, 3),
            new PathFigure(4, Math.Round(directSeconds, 3), Math.Round(clusterSeconds, 3), Math.Round(clusterSeconds / directSeconds, 3),
                Math.Round((clusterSeconds - directSeconds) * 1000 / 4, 1)),
            new RestartSummary(Math.Round(BenchCommand.Median([.. restarts.Select(r => r.KillToRunningSeconds)]), 2),
                Math.Round(BenchCommand.Median([.. restarts.Select(r => r.HealthyToRunningSeconds)]), 2)),
            failovers.Count == 0 ? null : new FailoverSummary(Math.Round(BenchCommand.Median(failovers), 2), Math.Round(BenchCommand.Median(fastFailovers), 2)));
    }

    /// <summary>The frame count whose chunk plan has <paramref name="chunks"/> chunks of the model's full length.</summary>
    private static int FramesFor(ModelConfig config, int chunks) =>
        FrameCount.ToPixel(config, config.ChunkLatentFrames + (chunks - 1) * (config.ChunkLatentFrames - config.OverlapLatentFrames));

    /// <summary>
    /// The change in chunk time from the first chunk to the last along the least-squares line through every run's chunk
    /// times (one chunk's time varies by ±5% here from run to run; the line shows what grows with length).
    /// </summary>
    private static double Drift(IReadOnlyList<double[]> runs)
    {
        var points = runs.SelectMany(r => r.Select((seconds, i) => (X: (double)i, Y: seconds))).ToArray();
        var (mx, my) = (points.Average(p => p.X), points.Average(p => p.Y));
        var slope = points.Sum(p => (p.X - mx) * (p.Y - my)) / points.Sum(p => (p.X - mx) * (p.X - mx));
        var last = runs.Max(r => r.Length) - 1;
        var first = my - slope * mx;
        return (first + slope * last) / first - 1;
    }

    private static Task<ClusterRunFigure> ClusterRunInChildAsync(ModelConfig config, int frames, int threads, CancellationToken cancel) =>
        BenchCommand.InChildProcess<ClusterRunFigure>(cancel, "bench", "cluster-run", "--frames", $"{frames}", "--threads", $"{threads}", "--config", config.Name);

    private static async Task<JsonElement> GenerateAsync(ModelConfig config, int frames, int threads, CancellationToken cancel)
    {
        var output = Path.Combine(Path.GetTempPath(), $"reel-bench-{Guid.NewGuid():N}.mp4");
        try
        {
            return await BenchCommand.InChildProcess<JsonElement>(cancel, "generate", Prompt, "-o", output, "--config", config.Name,
                "--frames", $"{frames}", "--seed", "1", "--threads", $"{threads}", "--json");
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static async Task<ClusterRunFigure> ClusterRunAsync(ModelConfig config, int frames, int threads, CancellationToken cancel)
    {
        var artifacts = Directory.CreateTempSubdirectory("reel-bench-");
        try
        {
            await using var app = ReelHost.Build(o =>
            {
                (o.Model, o.Config, o.Threads, o.Artifacts) = (true, config.Name, threads, artifacts.FullName);
                (o.SiloPort, o.GatewayPort, o.HttpPort) = (FreePort(), FreePort(), FreePort());
            });
            await app.StartAsync(cancel);
            var sessions = new ReelSessions(app.Services.GetRequiredService<IGrainFactory>());
            await WaitAsync(async () => (await app.Services.GetRequiredService<IGrainFactory>().GetGrain<IPoolGrain>("default").Loads()).Count > 0, cancel);
            // Polled like a client checking status; the events (kept by the session) are read once at the end.
            async Task<(SessionKey Key, SessionSnapshot Done)> MakeAsync(int videoFrames)
            {
                var created = await sessions.CreateAsync("bench", "default", new VideoRequest
                {
                    Prompt = Prompt, Width = config.DefaultSize.Width, Height = config.DefaultSize.Height, Frames = videoFrames, Seed = 1,
                });
                SessionSnapshot? done = null;
                await WaitAsync(async () => (done = await sessions.GetAsync(created.Key)) is { IsFinished: true }, cancel);
                return (created.Key, done!);
            }
            // A silo that has made a video before: the process's one-time costs (first calls, per-shape tables) are not
            // a property of the video's length.
            await MakeAsync(FramesFor(config, 1));
            var clock = Stopwatch.StartNew();
            var (key, done) = await MakeAsync(frames);
            var seconds = clock.Elapsed.TotalSeconds;
            var events = (await sessions.WatchAsync(key, 0, TimeSpan.Zero))!.Events;
            if (done.Status != SessionStatus.Completed) throw new ModelException($"The bench session ended {done.Status}: {done.Error?.Message}");
            await app.StopAsync(cancel);
            // Chunk i lasts from its "started" event to its "committed" event.
            var starts = events.Where(e => e.Message.EndsWith(" started", StringComparison.Ordinal) && e.Message.StartsWith("chunk", StringComparison.Ordinal)).ToList();
            var commits = events.Where(e => e.Message.EndsWith(" committed", StringComparison.Ordinal)).ToList();
            var chunkSeconds = starts.Zip(commits, (s, c) => Math.Round((c.At - s.At).TotalSeconds, 3)).ToArray();
            var finishSeconds = Math.Round((events[^1].At - commits[^1].At).TotalSeconds, 3);
            return new ClusterRunFigure(Math.Round(seconds, 3), done.Chunks, chunkSeconds, finishSeconds, BenchCommand.ProcessMemory("VmHWM"));
        }
        finally
        {
            artifacts.Delete(recursive: true);
        }
    }

    /// <summary>`reel serve` killed (SIGKILL) inside a session's second chunk, then started again on the same state.</summary>
    private static async Task<RestartFigure> KillAndRestartAsync(ModelConfig config, int frames, int threads, CancellationToken cancel)
    {
        var folder = Directory.CreateTempSubdirectory("reel-bench-");
        try
        {
            SessionKey key;
            string firstSilo;
            string[] serve = ["serve", "--config", config.Name, "--threads", $"{threads}", "--artifacts", Path.Combine(folder.FullName, "artifacts"),
                "--state", Path.Combine(folder.FullName, "state")];
            using (var first = StartReel(serve))
            {
                await using var client = await ConnectAsync(first.Gateway, first.Http, cancel);
                key = (await client.Sessions.CreateAsync("bench", "default", new VideoRequest
                {
                    Prompt = Prompt, Width = config.DefaultSize.Width, Height = config.DefaultSize.Height, Frames = frames, Seed = 1,
                })).Key;
                SessionSnapshot? running = null;
                await WaitAsync(async () => (running = await client.Sessions.GetAsync(key)) is { CommittedChunks: >= 1 }, cancel);
                firstSilo = running!.Silo!;
                first.Process.Kill(entireProcessTree: true);
                await first.Process.WaitForExitAsync(cancel);
            }
            var clock = Stopwatch.StartNew();
            using var second = StartReel(serve);
            await using var again = await ConnectAsync(second.Gateway, second.Http, cancel);
            var healthy = clock.Elapsed.TotalSeconds;
            await WaitAsync(async () => await again.Sessions.GetAsync(key) is { } s && s.Silo != firstSilo, cancel);
            var running2 = clock.Elapsed.TotalSeconds;
            second.Process.Kill(entireProcessTree: true);
            return new RestartFigure(running2, running2 - healthy);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Two `reel silo --model` processes clustered through Redis: kill -9 of the one running a session inside its second
    /// chunk, to the session running on the other; with Orleans' default failure detection or 1 s probes, 2 missed.
    /// </summary>
    private static async Task<double> KillAndFailOverAsync(ModelConfig config, int frames, int threads, bool fastDetection, CancellationToken cancel)
    {
        var folder = Directory.CreateTempSubdirectory("reel-bench-");
        try
        {
            using var redis = RedisServer.Start(FreePort());
            string[] silo = ["silo", "--model", "--redis", redis.ConnectionString, "--advertise-ip", "127.0.0.1", "--config", config.Name,
                "--threads", $"{threads}", "--artifacts", folder.FullName];
            Dictionary<string, string> detection = fastDetection
                ? new() { ["Orleans__Membership__ProbeTimeout"] = "00:00:01", ["Orleans__Membership__NumMissedProbesLimit"] = "2", ["Orleans__Membership__TableRefreshTimeout"] = "00:00:02" }
                : [];
            using var one = StartReel(silo, detection);
            using var two = StartReel(silo, detection);
            await using var client = await ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString), one.Http, cancel);
            await HealthyAsync(two.Http, cancel);
            var key = (await client.Sessions.CreateAsync("bench", "default", new VideoRequest
            {
                Prompt = Prompt, Width = config.DefaultSize.Width, Height = config.DefaultSize.Height, Frames = frames, Seed = 1,
            })).Key;
            SessionSnapshot? running = null;
            await WaitAsync(async () => (running = await client.Sessions.GetAsync(key)) is { CommittedChunks: >= 1 }, cancel);
            var victim = running!.Silo!.Contains($":{one.Silo}:") ? one : two;
            var survivor = victim == one ? two : one;
            victim.Process.Kill(entireProcessTree: true);
            var clock = Stopwatch.StartNew();
            await WaitAsync(async () => await client.Sessions.GetAsync(key) is { } s && s.Silo!.Contains($":{survivor.Silo}:"), cancel);
            return clock.Elapsed.TotalSeconds;
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>A redis-server from PATH on a loopback port, without persistence; the benchmark never installs it.</summary>
    private sealed class RedisServer(Process process, int port) : IDisposable
    {
        public static bool IsInstalled => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "redis-server")));

        public string ConnectionString => $"127.0.0.1:{port}";

        public static RedisServer Start(int port)
        {
            var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "--port", $"{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" }) start.ArgumentList.Add(arg);
            return new RedisServer(Process.Start(start)!, port);
        }

        public void Dispose()
        {
            process.Kill();
            process.Dispose();
        }
    }

    private sealed record ReelProcess(Process Process, int Silo, int Gateway, int Http) : IDisposable
    {
        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.Dispose();
        }
    }

    /// <summary>This program with <paramref name="args"/> on free silo, gateway and HTTP ports.</summary>
    private static ReelProcess StartReel(string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (silo, gateway, http) = (FreePort(), FreePort(), FreePort());
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(typeof(LongBenchCommand).Assembly.Location);
        foreach (var arg in args.Concat(["--silo-port", $"{silo}", "--gateway-port", $"{gateway}", "--http-port", $"{http}", "--management-port", $"{FreePort()}"]))
            start.ArgumentList.Add(arg);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ReelProcess(process, silo, gateway, http);
    }

    /// <summary>Waits for the server's health endpoint, then connects a cluster client to its gateway.</summary>
    private static Task<ClusterClient> ConnectAsync(int gateway, int http, CancellationToken cancel) =>
        ConnectAsync(c => c.UseLocalhostClustering(gateway), http, cancel);

    private static async Task<ClusterClient> ConnectAsync(Action<IClientBuilder> connect, int http, CancellationToken cancel)
    {
        await HealthyAsync(http, cancel);
        return await ClusterClient.ConnectAsync(connect, cancel);
    }

    /// <summary>Waits for 200 from a server's health endpoint: its model is loaded.</summary>
    private static async Task HealthyAsync(int http, CancellationToken cancel)
    {
        using var web = new HttpClient();
        await WaitAsync(async () =>
        {
            try
            {
                using var response = await web.GetAsync($"http://127.0.0.1:{http}/healthz", cancel);
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, cancel);
    }

    internal static async Task WaitAsync(Func<Task<bool>> condition, CancellationToken cancel)
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                // A restarting server refuses calls for a moment.
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The benchmark waited 10 minutes for a step.");
            await Task.Delay(100, cancel);
        }
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed record LengthFigure(int Chunks, int Frames, double FirstChunkSeconds, double LastChunkSeconds, double SecondsPerChunk, double PeakMemoryMiB);

    private sealed record PathFigure(int Chunks, double GenerateSeconds, double ClusterSeconds, double Ratio, double ExtraMillisecondsPerChunk);

    private sealed record RestartFigure(double KillToRunningSeconds, double HealthyToRunningSeconds);

    private sealed record RestartSummary(double KillToRunningSeconds, double HealthyToRunningSeconds);

    private sealed record FailoverSummary(double DefaultDetectionSeconds, double FastDetectionSeconds);

    private sealed record ClusterRunFigure(double Seconds, int Chunks, double[] ChunkSeconds, double FinishSeconds, double PeakMemoryMiB);

    private sealed record LongBench(string Config, int Threads, int Repeats, IReadOnlyList<LengthFigure> Lengths,
        double ChunkTimeDrift, double PeakMemoryRatio8To1, PathFigure ClusterPath, RestartSummary Restart, FailoverSummary? Failover)
    {
        public string ToText() => string.Join('\n', [
            $"reel bench long: {Config}, {Threads} thread(s), median of {Repeats}",
            "  through the cluster (one embedded silo, session, state and artifacts):",
            .. Lengths.Select(l => $"  {l.Chunks} chunk(s), {l.Frames} frames: first chunk {l.FirstChunkSeconds:0.000} s, last chunk {l.LastChunkSeconds:0.000} s, " +
                $"{l.SecondsPerChunk:0.000} s/chunk overall, peak {l.PeakMemoryMiB:0} MiB"),
            $"  chunk time from the first to the last chunk at 8 chunks (least-squares line): {ChunkTimeDrift:+0.0%;-0.0%} (target within 5%); peak memory 8 vs 1 chunk: {PeakMemoryRatio8To1:0.00}x (target 1.1x)",
            $"  cluster path, 4 chunks: {ClusterPath.ClusterSeconds:0.00} s vs generate {ClusterPath.GenerateSeconds:0.00} s = {ClusterPath.Ratio:0.000}x, {ClusterPath.ExtraMillisecondsPerChunk:0} ms/chunk (target 5%)",
            $"  kill -9 of reel serve to the session running again: {Restart.KillToRunningSeconds:0.00} s ({Restart.HealthyToRunningSeconds:0.00} s after the new server was healthy)",
            Failover is { } failover
                ? $"  kill -9 of one of two Redis-clustered model silos to the session running on the other: {failover.DefaultDetectionSeconds:0.00} s " +
                  $"(Orleans' default failure detection), {failover.FastDetectionSeconds:0.00} s (1 s probes, 2 missed)"
                : "  failover between model silos: not measured (no redis-server on PATH)",
        ]);
    }
}
