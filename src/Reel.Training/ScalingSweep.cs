using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Reel.Model;
using Reel.World;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reel.Training;

/// <summary>A DiT size of the sweep: the base configuration with this width, depth and head count.</summary>
public sealed record DitSize(int Width, int Depth, int Heads)
{
    public string Name => $"w{Width}d{Depth}";

    public ModelConfig Apply(ModelConfig config) => config with { Name = $"{config.Name}-{Name}", DitWidth = Width, DitDepth = Depth, DitHeads = Heads };

    /// <summary>"WIDTHxDEPTH", heads = width / 32 (at least 2).</summary>
    public static DitSize Parse(string text)
    {
        var parts = text.Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var width) || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var depth)
            || width < 4 || depth < 1)
            throw new ModelException($"DiT size '{text}' is not WIDTHxDEPTH (e.g. 128x4).");
        return new DitSize(width, depth, Math.Max(2, width / 32));
    }
}

/// <summary>
/// How <c>reel scaling</c> sweeps. The presets (<see cref="Preset"/>) are sized so the tiny sweep fits in
/// about an hour on a 2-core CPU.
/// </summary>
public sealed record ScalingSettings
{
    /// <summary>The sizes the law is fitted on.</summary>
    public required IReadOnlyList<DitSize> Sizes { get; init; }

    /// <summary>Training compute of each run, FLOPs (3 × the DiT's forward FLOPs per step).</summary>
    public required IReadOnlyList<double> Budgets { get; init; }

    /// <summary>The larger run predicted before it is trained.</summary>
    public required DitSize HeldOutSize { get; init; }
    public required double HeldOutBudget { get; init; }

    /// <summary>Cached training clips (one chunk of latent frames each) and validation clips.</summary>
    public int TrainClips { get; init; } = 4096;
    public int ValidationClips { get; init; } = 256;

    /// <summary>Clips per step. Default 16, as the real run.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Peak learning rate (warm-up over a tenth of the run, at most 100 steps, then cosine to 5%). Default 1e-3.</summary>
    public double LearningRate { get; init; } = 1e-3;

    public ulong Seed { get; init; }

    /// <summary>The sweep sized for a shipped configuration; null for others.</summary>
    public static ScalingSettings? Preset(ModelConfig config) => config.Name switch
    {
        "tiny" => new ScalingSettings
        {
            Sizes = [new(32, 2, 2), new(64, 2, 2), new(96, 3, 3), new(128, 4, 4)],
            Budgets = [1e11, 3e11, 1e12, 3e12],
            // The held-out run is sized where the sweep's optimum is heading (0.07 M → 0.23 M over 30× compute), not
            // beyond it: a 2.4 M model at 1e13 FLOPs trains 320 steps and lands 24% above the frontier (MODEL.md).
            HeldOutSize = new(96, 3, 3), HeldOutBudget = 1e13,
        },
        "test" => new ScalingSettings
        {
            Sizes = [new(16, 1, 2), new(24, 1, 2), new(32, 2, 2), new(64, 2, 2)],
            Budgets = [3e8, 1e9, 3e9],
            HeldOutSize = new(64, 3, 2), HeldOutBudget = 6e9,
            TrainClips = 64, ValidationClips = 16, BatchSize = 4,
        },
        _ => null,
    };
}

/// <summary>One finished run of the sweep.</summary>
public sealed record ScalingRun(string Size, long Parameters, double Budget, int Steps, double Compute, double ValidationLoss, double Seconds, bool HeldOut);

/// <summary>
/// The sweep: every size at every budget trains a fresh DiT and caption encoder on the same cached latents (the world's
/// clips through the one frozen VAE), text-to-video flow matching with caption dropout, then measures the validation
/// loss on fixed clips, noise and noise levels. Finished runs are appended to runs.csv, so a stopped sweep resumes with
/// the first unfinished run; every run is decided by (seed, size, budget), so a resumed sweep equals an uninterrupted one.
/// </summary>
public sealed class ScalingSweep(string folder, ReelModel source, ScalingSettings settings)
{
    public const string RunsFile = "runs.csv", DataFile = "clips.safetensors", CaptionsFile = "captions.json";

    public IReadOnlyList<ScalingRun> Finished() =>
        File.Exists(Path.Combine(folder, RunsFile))
            ? File.ReadLines(Path.Combine(folder, RunsFile)).Skip(1).Where(l => l.Length > 0).Select(ParseRun).ToList()
            : [];

    /// <summary>The runs of the fit (every size at every budget), smallest compute first, then the held-out run.</summary>
    public IEnumerable<(DitSize Size, double Budget, bool HeldOut)> Plan() =>
        settings.Budgets.SelectMany(b => settings.Sizes.Select(s => (s, b, false))).Append((settings.HeldOutSize, settings.HeldOutBudget, true));

    /// <summary>Steps of a run and the compute they take: the budget rounded to whole steps.</summary>
    public (int Steps, double Compute) Length(DitSize size, double budget)
    {
        var perStep = StepFlops(size.Apply(source.Config));
        var steps = Math.Max(1, (int)Math.Round(budget / perStep));
        return (steps, steps * perStep);
    }

    /// <summary>Training FLOPs of one step of <paramref name="config"/> on the sweep's clips.</summary>
    private double StepFlops(ModelConfig config)
    {
        var size = config.Sizes[0];
        return 3 * DiffusionTransformer.ForwardFlops(config, settings.BatchSize, config.ChunkLatentFrames,
            size.Height / config.SpatialCompression, size.Width / config.SpatialCompression, config.MaxCaptionTokens);
    }

    /// <summary>Trains one run unless runs.csv has it; returns its result.</summary>
    public ScalingRun Run(DitSize size, double budget, bool heldOut, Action<string>? log = null)
    {
        if (Finished().FirstOrDefault(r => r.Size == size.Name && r.Budget == budget) is { } done) return done;
        var (train, validation) = Data(log);
        var config = size.Apply(source.Config);
        var (steps, compute) = Length(size, budget);
        var clock = Stopwatch.StartNew();
        using var model = Train(config, steps, train, RunSeed(size, budget));
        var loss = ValidationLoss(model, validation);
        model.Save(WeightsOf(size.Name, budget));
        var run = new ScalingRun(size.Name, ReelModel.ParameterCount(model.Dit), budget, steps, compute, loss, Math.Round(clock.Elapsed.TotalSeconds, 1), heldOut);
        Append(run);
        log?.Invoke($"{size.Name} ({run.Parameters / 1e6:0.00} M) at {budget:0.#e0} FLOPs: {steps} steps, validation loss {loss:0.0000}, {run.Seconds:0} s");
        return run;
    }

    /// <summary>The weights folder a finished run left (its VAE is the sweep's).</summary>
    public string WeightsOf(string size, double budget) =>
        Path.Combine(folder, "runs", string.Create(CultureInfo.InvariantCulture, $"{size}-{budget:0.###e0}"));

    private ulong RunSeed(DitSize size, double budget) =>
        ChunkPlanner.ChunkSeed(settings.Seed ^ (ulong)size.Width << 32 ^ (ulong)size.Depth << 16, (int)Math.Round(Math.Log10(budget) * 1000));

    private ReelModel Train(ModelConfig config, int steps, LatentClips data, ulong seed)
    {
        var model = ReelModel.Create(config, seed: seed);
        model.UseVae(source);
        var schedule = new TrainingSettings
        {
            Target = TrainingTarget.Dit, Steps = steps, BatchSize = settings.BatchSize, LearningRate = settings.LearningRate,
            WarmupSteps = Math.Min(100, Math.Max(1, steps / 10)),
        };
        var parameters = model.Dit.parameters().Concat(model.CaptionEncoder.parameters()).ToList();
        model.Dit.train();
        model.CaptionEncoder.train();
        using var optimizer = optim.AdamW(parameters, schedule.LearningRate, 0.9, 0.99, 1e-8, schedule.WeightDecay);
        using var generator = new Generator(seed, CPU);
        for (var step = 0; step < steps; step++)
        {
            foreach (var group in optimizer.ParamGroups) group.LearningRate = schedule.LearningRateAt(step);
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var picks = randint(data.Latents.shape[0], [settings.BatchSize], generator: generator);
            var x0 = data.Latents.index_select(0, picks);
            var dropped = rand([settings.BatchSize], generator: generator).data<float>().ToArray();
            var captions = picks.data<long>().ToArray().Select((i, k) => dropped[k] < schedule.CaptionDropout ? "" : data.Captions[i]).ToArray();
            var (noise, levels) = Noise(x0, model.Config, generator);
            var loss = Trainer.FlowMatchingLoss(model.Dit, model.CaptionEncoder, x0, noise, levels, ones_like(levels), captions);
            loss.backward();
            nn.utils.clip_grad_norm_(parameters, schedule.GradientClip);
            optimizer.step();
        }
        model.Dit.eval();
        model.CaptionEncoder.eval();
        return model;
    }

    /// <summary>Noise and one logit-normal noise level per clip (all its frames), as the real run draws for free frames.</summary>
    private static (Tensor Noise, Tensor Levels) Noise(Tensor x0, ModelConfig config, Generator generator)
    {
        var noise = FlowMatchingSampler.Noise(x0.shape, config.NoiseFrameCorrelation, generator);
        var levels = sigmoid(randn([x0.shape[0], 1], generator: generator)).expand(x0.shape[0], x0.shape[2]).contiguous();
        return (noise, levels);
    }

    /// <summary>The validation loss of any model of the sweep's configuration (the weights it ran on, for one).</summary>
    public double ValidationLoss(ReelModel model) => ValidationLoss(model, Data(null).Validation);

    /// <summary>Mean loss over the validation clips with their fixed noise and levels (seeded apart from training).</summary>
    private double ValidationLoss(ReelModel model, LatentClips validation)
    {
        using var noGrad = no_grad();
        using var generator = new Generator(settings.Seed ^ 0x5EED_0F_5A11DA7EUL, CPU);
        var (total, count) = (0.0, 0);
        for (var start = 0; start < validation.Captions.Length; start += 64)
        {
            using var scope = NewDisposeScope();
            var end = Math.Min(start + 64, validation.Captions.Length);
            var x0 = validation.Latents[start..end];
            var (noise, levels) = Noise(x0, model.Config, generator);
            var captions = validation.Captions[start..end];
            var loss = Trainer.FlowMatchingLoss(model.Dit, model.CaptionEncoder, x0, noise, levels, ones_like(levels), captions);
            total += loss.item<float>() * captions.Length;
            count += captions.Length;
        }
        return total / count;
    }

    private sealed record LatentClips(Tensor Latents, string[] Captions);

    private (LatentClips Train, LatentClips Validation)? _data;

    /// <summary>The cached clips, encoded once per sweep folder (written atomically, read back on resume).</summary>
    private (LatentClips Train, LatentClips Validation) Data(Action<string>? log)
    {
        if (_data is { } cached) return cached;
        var (latentsPath, captionsPath) = (Path.Combine(folder, DataFile), Path.Combine(folder, CaptionsFile));
        if (!File.Exists(latentsPath) || !File.Exists(captionsPath))
        {
            Directory.CreateDirectory(folder);
            var clock = Stopwatch.StartNew();
            var (latents, captions) = Encode(settings.TrainClips + settings.ValidationClips);
            File.WriteAllBytes(latentsPath + ".partial", LatentsFile.ToBytes(latents));
            File.WriteAllText(captionsPath, JsonSerializer.Serialize(captions));
            File.Move(latentsPath + ".partial", latentsPath, overwrite: true);
            latents.Dispose();
            log?.Invoke($"Encoded {captions.Length} clips in {clock.Elapsed.TotalSeconds:0} s.");
        }
        var all = LatentsFile.FromBytes(File.ReadAllBytes(latentsPath));
        var texts = JsonSerializer.Deserialize<string[]>(File.ReadAllText(captionsPath))!;
        var split = settings.TrainClips;
        _data = (new LatentClips(all[..split].clone(), texts[..split]), new LatentClips(all[split..].clone(), texts[split..]));
        all.Dispose();
        return _data.Value;
    }

    private (Tensor Latents, string[] Captions) Encode(int clips)
    {
        var batches = new WorldBatches(source.Config, settings.Seed ^ 0x5CA1E5UL);
        var parts = new List<Tensor>();
        var captions = new List<string>();
        for (var i = 0; captions.Count < clips; i++)
        {
            var n = Math.Min(64, clips - captions.Count);
            using var batch = batches.At(i, n, source.Config.ChunkLatentFrames, source.Config.Sizes[0]);
            parts.Add(source.EncodeLatents(batch.Video));
            captions.AddRange(batch.Captions);
        }
        var latents = cat(parts, 0);
        parts.ForEach(p => p.Dispose());
        return (latents, captions.ToArray());
    }

    private void Append(ScalingRun run)
    {
        var path = Path.Combine(folder, RunsFile);
        if (!File.Exists(path)) File.WriteAllText(path, "size,parameters,budget,steps,compute,validation_loss,seconds,held_out\n");
        File.AppendAllText(path, string.Create(CultureInfo.InvariantCulture,
            $"{run.Size},{run.Parameters},{run.Budget:R},{run.Steps},{run.Compute:R},{run.ValidationLoss:R},{run.Seconds},{(run.HeldOut ? 1 : 0)}\n"));
    }

    private static ScalingRun ParseRun(string line)
    {
        var f = line.Split(',');
        double D(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
        return new ScalingRun(f[0], long.Parse(f[1], CultureInfo.InvariantCulture), D(2), int.Parse(f[3], CultureInfo.InvariantCulture), D(4), D(5), D(6), f[7] == "1");
    }
}
