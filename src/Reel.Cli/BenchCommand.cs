using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Reel.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Reel.Cli;

/// <summary>
/// <c>reel bench model</c>: the model's speed on this machine — matmul rates, DiT forward throughput as a fraction of
/// them, VAE streaming decode speed and peak memory at 1× and 8× length (each in its own process), and
/// <c>reel generate</c> end to end per chunk. Medians of repeats.
/// </summary>
public static class BenchCommand
{
    private const int CaptionTokens = 16;

    public static Command Create()
    {
        var threads = new Option<int>("--threads") { Description = "Torch threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var repeats = new Option<int>("--repeats") { Description = "Timed repeats per measurement (the median is reported)", DefaultValueFactory = _ => 7 };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON" };
        var model = new Command("model", "Matmul rate, DiT forward, VAE streaming decode and generate per chunk") { threads, repeats, json };
        model.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            set_num_threads(result.GetValue(threads));
            var report = await RunModelBench(result.GetValue(threads), Math.Max(1, result.GetValue(repeats)), cancel);
            Console.WriteLine(result.GetValue(json) ? JsonSerializer.Serialize(report, CommandErrors.Json) : report.ToText());
        }));

        var config = new Option<string>("--config") { DefaultValueFactory = _ => "tiny" };
        var size = new Option<string>("--size") { DefaultValueFactory = _ => "128x128" };
        var latentFrames = new Option<int>("--latent-frames") { Required = true };
        var dtype = new Option<string>("--dtype") { DefaultValueFactory = _ => "float32" };
        var decode = new Command("vae-decode", "One streaming VAE decode in this process; prints frames, seconds and peak memory as JSON")
        {
            config, size, latentFrames, dtype, threads, repeats,
        };
        decode.Hidden = true;
        decode.SetAction(result => CommandErrors.RunAsync(() =>
        {
            set_num_threads(result.GetValue(threads));
            if (!VideoSize.TryParse(result.GetValue(size)!, out var videoSize)) throw new ModelException("--size is not WxH.");
            var figures = MeasureDecode(ModelConfig.Named(result.GetValue(config)!), videoSize, result.GetValue(latentFrames),
                ModelRuntime.ParseDtype(result.GetValue(dtype)!), Math.Max(1, result.GetValue(repeats)));
            Console.WriteLine(JsonSerializer.Serialize(figures, CommandErrors.Json));
            return Task.CompletedTask;
        }));
        return new Command("bench", "Benchmarks (figures, not pass/fail)") { model, decode, TrainBenchCommand.Create(), LongBenchCommand.Create(), LongBenchCommand.ClusterRun(), ServeBenchCommand.Create() };
    }

    private static async Task<ModelBench> RunModelBench(int threads, int repeats, CancellationToken cancel)
    {
        var matmul = new[] { ScalarType.Float32, ScalarType.BFloat16 }.ToDictionary(d => d.ToString(), d => MatmulGflops(d, repeats));
        var dit = new List<DitFigure>();
        foreach (var (config, frames) in new[] { (ModelConfig.Tiny, ModelConfig.Tiny.ChunkLatentFrames), (ModelConfig.Small, 2) })
            foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
                foreach (var batch in new[] { 1, 4, 16 })
                {
                    cancel.ThrowIfCancellationRequested();
                    Console.Error.WriteLine($"bench model: DiT forward, {config.Name} {dtype} batch {batch}");
                    dit.Add(DitForward(config, frames, batch, dtype, repeats, matmul[dtype.ToString()]));
                }
        var decode = new List<DecodeFigure>();
        foreach (var dtype in new[] { "float32", "bfloat16" })
            foreach (var scale in new[] { 1, 8 })
            {
                Console.Error.WriteLine($"bench model: VAE decode, {dtype}, {scale}x a chunk");
                decode.Add(await InChildProcess<DecodeFigure>(cancel, "bench", "vae-decode", "--config", "tiny", "--size", "128x128",
                    "--latent-frames", (ModelConfig.Tiny.ChunkLatentFrames * scale).ToString(), "--dtype", dtype, "--threads", threads.ToString(),
                    "--repeats", "3"));
            }
        var generate = new List<GenerateFigure>();
        foreach (var dtype in new[] { "float32", "bfloat16" })
        {
            Console.Error.WriteLine($"bench model: generate, tiny {dtype}");
            var output = Path.Combine(Path.GetTempPath(), $"reel-bench-{Guid.NewGuid():N}.mp4");
            var report = await InChildProcess<JsonElement>(cancel, "generate", "a red ball bouncing", "-o", output, "--config", "tiny",
                "--seconds", "6", "--seed", "1", "--dtype", dtype, "--threads", threads.ToString(), "--json");
            File.Delete(output);
            var timings = report.GetProperty("timings");
            var chunks = timings.GetProperty("chunkSeconds").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            generate.Add(new GenerateFigure("tiny", dtype, report.GetProperty("size").GetString()!, report.GetProperty("frames").GetInt32(),
                chunks.Length, report.GetProperty("steps").GetInt32(), Median(chunks), timings.GetProperty("writeSeconds").GetDouble(),
                timings.GetProperty("loadSeconds").GetDouble() + timings.GetProperty("generateSeconds").GetDouble() + timings.GetProperty("writeSeconds").GetDouble()));
        }
        return new ModelBench(threads, repeats, matmul, dit, decode, generate);
    }

    private static double MatmulGflops(ScalarType dtype, int repeats)
    {
        const int n = 1024;
        using var a = randn(n, n).to(dtype);
        using var b = randn(n, n).to(dtype);
        // A shared 2-core machine needs a longer look than a few products: at least 4× the repeats.
        var seconds = Time(Math.Max(4 * repeats, 20), () => a.matmul(b).Dispose());
        return 2.0 * n * n * n / seconds / 1e9;
    }

    private static DitFigure DitForward(ModelConfig config, int frames, int batch, ScalarType dtype, int repeats, double matmulGflops)
    {
        using var model = ReelModel.Create(config, new ModelRuntime(Dtype: dtype));
        var (h, w) = (config.DefaultSize.Height / config.SpatialCompression, config.DefaultSize.Width / config.SpatialCompression);
        var tokens = config.DitTokens(frames, h, w);
        using var x = randn([batch, config.LatentChannels, frames, h, w]);
        using var t = rand(batch, frames);
        using var caption = randn(batch, CaptionTokens, config.CaptionWidth);
        using var mask = ones(batch, CaptionTokens, dtype: ScalarType.Bool);
        using var noGrad = no_grad();
        var seconds = Time(repeats, () => model.Dit.forward(x, t, caption, mask).Dispose());
        var gflops = DiffusionTransformer.ForwardFlops(config, batch, frames, h, w, CaptionTokens) / seconds / 1e9;
        return new DitFigure(config.Name, dtype.ToString(), batch, tokens, Math.Round(seconds * 1000, 1),
            Math.Round(batch * tokens / seconds), Math.Round(gflops, 1), Math.Round(gflops / matmulGflops, 3));
    }

    private static DecodeFigure MeasureDecode(ModelConfig config, VideoSize size, int latentFrames, ScalarType dtype, int repeats)
    {
        using var model = ReelModel.Create(config, new ModelRuntime(Dtype: dtype));
        using var latents = randn([1, config.LatentChannels, latentFrames, size.Height / config.SpatialCompression, size.Width / config.SpatialCompression]);
        using (var warmup = latents[.., .., ..2].contiguous())
            foreach (var chunk in model.DecodeLatents(warmup)) chunk.Dispose();
        var baseline = ProcessMemory("VmRSS");
        long frames = 0;
        var seconds = Time(repeats, () =>
        {
            frames = 0;
            foreach (var chunk in model.DecodeLatents(latents))
            {
                frames += chunk.shape[2];
                chunk.Dispose();
            }
        });
        return new DecodeFigure(config.Name, dtype.ToString(), size.ToString(), latentFrames, frames, Math.Round(seconds, 3),
            Math.Round(frames / seconds, 1), ProcessMemory("VmHWM"), baseline);
    }

    /// <summary>A line of /proc/self/status in MiB (VmRSS: now; VmHWM: the peak).</summary>
    internal static double ProcessMemory(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return Math.Round(long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0, 1);
    }

    private static double Time(int repeats, Action action)
    {
        action();
        var times = new double[repeats];
        for (var i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            using (NewDisposeScope()) action();
            times[i] = clock.Elapsed.TotalSeconds;
        }
        return Median(times);
    }

    internal static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Runs this program with <paramref name="args"/> and parses its JSON output.</summary>
    internal static async Task<T> InChildProcess<T>(CancellationToken cancel, params string[] args)
    {
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(typeof(BenchCommand).Assembly.Location);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancel);
        var stderr = process.StandardError.ReadToEndAsync(cancel);
        await process.WaitForExitAsync(cancel);
        if (process.ExitCode != 0) throw new ModelException($"reel {string.Join(' ', args)} failed: {(await stderr).Trim()}");
        return JsonSerializer.Deserialize<T>(await stdout, CommandErrors.Json)!;
    }

    private sealed record DitFigure(string Config, string Dtype, int Batch, long Tokens, double Milliseconds, double TokensPerSecond,
        double Gflops, double FractionOfMatmul);

    private sealed record DecodeFigure(string Config, string Dtype, string Size, int LatentFrames, long Frames, double Seconds,
        double FramesPerSecond, double PeakRssMiB, double BaselineRssMiB);

    private sealed record GenerateFigure(string Config, string Dtype, string Size, int Frames, int Chunks, int Steps,
        double MedianChunkSeconds, double DecodeAndWriteSeconds, double TotalSeconds);

    private sealed record ModelBench(int Threads, int Repeats, Dictionary<string, double> MatmulGflops, List<DitFigure> Dit,
        List<DecodeFigure> Decode, List<GenerateFigure> Generate)
    {
        public string ToText()
        {
            var lines = new List<string> { $"threads {Threads}, medians of {Repeats}", "", "matmul 1024³" };
            lines.AddRange(MatmulGflops.Select(m => $"  {m.Key,-9} {m.Value,8:0.0} GFLOP/s"));
            lines.Add("");
            lines.Add("DiT forward       dtype     batch  tokens      ms    tokens/s  GFLOP/s  of matmul");
            lines.AddRange(Dit.Select(d => $"  {d.Config,-15} {d.Dtype,-9} {d.Batch,5} {d.Tokens,7} {d.Milliseconds,7:0.0} {d.TokensPerSecond,11:0} {d.Gflops,8:0.0} {d.FractionOfMatmul,9:P0}"));
            lines.Add("");
            lines.Add("VAE streaming decode (own process)  latent frames  frames  frames/s  peak RSS MiB  baseline MiB");
            lines.AddRange(Decode.Select(d => $"  {d.Config} {d.Dtype,-9} {d.Size,-18} {d.LatentFrames,9} {d.Frames,7} {d.FramesPerSecond,9:0.0} {d.PeakRssMiB,13:0.0} {d.BaselineRssMiB,13:0.0}"));
            foreach (var dtype in Decode.Select(d => d.Dtype).Distinct())
            {
                var (one, eight) = (Decode.First(d => d.Dtype == dtype), Decode.Last(d => d.Dtype == dtype));
                lines.Add($"  {dtype}: peak memory at 8× length is {eight.PeakRssMiB / one.PeakRssMiB:0.00}× that at 1×");
            }
            lines.Add("");
            lines.Add("reel generate end to end");
            lines.AddRange(Generate.Select(g => $"  {g.Config} {g.Dtype,-9} {g.Size} {g.Frames} frames, {g.Chunks} chunks × {g.Steps} steps: {g.MedianChunkSeconds:0.00} s per chunk (median), decode + MP4 {g.DecodeAndWriteSeconds:0.00} s, total {g.TotalSeconds:0.00} s"));
            return string.Join('\n', lines);
        }
    }
}
