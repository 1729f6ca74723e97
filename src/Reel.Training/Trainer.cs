using System.Text.Json;
using Reel.Model;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Reel.Training;

/// <summary>
/// A training window's conditioning: where it starts in its clips, which latent frames each clip gives [B][T], every
/// frame's noise level [B][T] (small for given frames), and which captions are dropped for guidance.
/// </summary>
public sealed record WindowConditioning(int Offset, bool[][] Given, float[][] Timesteps, bool[] DropCaption);

/// <summary>
/// Trains the VAE, or the DiT with its caption encoder (VAE frozen), on the procedural world. A step is decided by
/// (seed, step) alone — data, conditioning and noise — so a run resumed from a checkpoint continues bit for bit.
/// </summary>
public sealed class Trainer : IDisposable
{
    private const string ModelFolder = "model", EmaFolder = "ema", OptimizerFile = "optimizer.bin", StateFile = "state.json";
    private static readonly JsonSerializerOptions StateJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly ReelModel _model;
    private readonly WorldBatches _data;
    private readonly string _cacheRoot;
    private ITrainingClips? _clips;
    private readonly OptimizerHelper _optimizer;
    private readonly List<Parameter> _parameters;
    private readonly (DiffusionTransformer Dit, CaptionEncoder Captions)? _ema;

    private Trainer(ReelModel model, TrainingSettings settings, int step, string? cacheRoot, Action<string>? log)
    {
        (_model, Settings, Step) = (model, settings, step);
        _cacheRoot = cacheRoot ?? LatentCache.DefaultRoot;
        _data = new WorldBatches(model.Config, settings.Seed, settings.World, settings.Sizes);
        IEnumerable<nn.Module> trained = settings.Target == TrainingTarget.Vae ? [model.Vae]
            : settings.FreezeCaptionEncoder ? [model.Dit] : [model.Dit, model.CaptionEncoder];
        if (settings.Target == TrainingTarget.Dit && settings.FreezeCaptionEncoder)
            foreach (var p in model.CaptionEncoder.parameters()) p.requires_grad = false;
        if (settings.Target == TrainingTarget.Vae)
        {
            model.Vae.ComputeType = settings.ComputeType;
            if (model.Device.type == DeviceType.CPU && !model.Vae.VerifyConvolutions(gradients: true)) log?.Invoke(ConvolutionCheck.OneDnnOff!);
        }
        foreach (var module in trained) module.train();
        _parameters = trained.SelectMany(m => m.parameters()).ToList();
        _optimizer = optim.AdamW(_parameters, settings.LearningRate, 0.9, 0.99, 1e-8, settings.WeightDecay);
        if (settings.Target == TrainingTarget.Dit)
        {
            _ema = (new DiffusionTransformer(model.Config), new CaptionEncoder(model.Config, model.Manifest.Vocabulary));
            CopyInto(_ema.Value.Dit, model.Dit);
            CopyInto(_ema.Value.Captions, model.CaptionEncoder);
            model.Dit.ComputeType = settings.ComputeType;
        }
    }

    public TrainingSettings Settings { get; }
    public int Step { get; private set; }
    public ReelModel Model => _model;

    /// <summary>
    /// A new run from <paramref name="model"/>'s weights (fresh, or committed ones for a warm start). A latent cache,
    /// when the settings ask for one, lives under <paramref name="cacheRoot"/> (default <see cref="LatentCache.DefaultRoot"/>).
    /// </summary>
    public static Trainer Start(ReelModel model, TrainingSettings settings, string? cacheRoot = null, Action<string>? log = null)
    {
        var trainer = new Trainer(model, settings, 0, cacheRoot, log);
        if (settings.Target == TrainingTarget.Dit)
        {
            trainer.MeasureLatentStatistics();
            trainer.OpenClips(log);
        }
        return trainer;
    }

    /// <summary>
    /// Continues the run saved in <paramref name="folder"/>. <paramref name="steps"/> gives the schedule a new length
    /// from here on (a run cut short still ends on a decayed rate); without it the run continues bit for bit.
    /// </summary>
    public static Trainer Resume(string folder, int? steps = null, string? cacheRoot = null, Action<string>? log = null)
    {
        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(Path.Combine(folder, StateFile)), StateJson)!;
        if (steps is { } length && length <= state.Step)
            throw new ModelException($"The run is at step {state.Step}: a new schedule (--steps {length}) must be longer than that.");
        var model = ReelModel.Load(Path.Combine(folder, ModelFolder));
        var trainer = new Trainer(model, state.Settings with { Steps = steps ?? state.Settings.Steps }, state.Step, cacheRoot, log);
        trainer._optimizer.load_state_dict(Path.Combine(folder, OptimizerFile));
        if (trainer._ema is { } ema)
        {
            ema.Dit.load_safetensors(Path.Combine(folder, EmaFolder, WeightsFolder.DitFile));
            ema.Captions.load_safetensors(Path.Combine(folder, EmaFolder, WeightsFolder.CaptionEncoderFile));
            trainer.OpenClips(log);
        }
        return trainer;
    }

    /// <summary>The DiT's clips: a latent cache when the settings ask for one (after the latent statistics are known), else rendered.</summary>
    private void OpenClips(Action<string>? log)
    {
        var config = _model.Config;
        _clips = Settings.CachedClips == 0 ? new RenderedClips(_model, _data)
            : LatentCache.Open(_model, _cacheRoot, Settings.World, _data.Sizes, Settings.CachedClips, config.ChunkLatentFrames + MaxWindowOffset,
                Settings.Seed, Settings.ComputeType, log);
    }

    /// <summary>
    /// Times one training step of <paramref name="target"/> (forward and backward, <paramref name="batchSize"/> clips of
    /// one chunk at the configuration's first size) with float32 and with bfloat16 activations over float32 weights.
    /// </summary>
    public static PrecisionTiming MeasurePrecision(ModelConfig config, TrainingTarget target, int batchSize)
    {
        using var model = ReelModel.Create(config);
        var size = config.Sizes[0];
        var (h, w) = (size.Height / config.SpatialCompression, size.Width / config.SpatialCompression);
        using var x = randn([batchSize, config.LatentChannels, config.ChunkLatentFrames, h, w]);
        using var video = rand([batchSize, 3, FrameCount.ToPixel(config, config.ChunkLatentFrames), size.Height, size.Width]) * 2 - 1;
        using var t = rand(batchSize, config.ChunkLatentFrames);
        var captions = Enumerable.Repeat("a large red disc slides to the left and bounces off the wall", batchSize).ToArray();
        model.Dit.train();
        model.Vae.train();
        return PrecisionProbe.Measure(type =>
        {
            if (target == TrainingTarget.Vae)
            {
                model.Vae.ComputeType = type;
                model.Vae.Decode(model.Vae.Encode(video)).square().mean().backward();
                model.Vae.zero_grad();
                return;
            }
            model.Dit.ComputeType = type;
            using var tokens = model.CaptionEncoder.Encode(captions);
            model.Dit.forward(x, t, tokens.Tokens, tokens.Mask).square().mean().backward();
            model.Dit.zero_grad();
            model.CaptionEncoder.zero_grad();
        }, repeats: 2);
    }

    /// <summary>The world's clips a step trains on (its scenes and captions).</summary>
    public IReadOnlyList<Reel.World.WorldClip> ClipsOfStep(int step) => _clips!.Scenes(Settings.FixedBatch ? 0 : step, Settings.BatchSize);

    /// <summary>Continuation windows start up to this many latent frames into a longer clip; without them clips are one chunk.</summary>
    private int MaxWindowOffset => Settings.Modes.Continuation > 0 ? _model.Config.ChunkLatentFrames - 1 : 0;

    /// <summary>One optimiser step; returns the loss.</summary>
    public double TrainStep()
    {
        var lr = Settings.LearningRateAt(Step);
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = lr;
        double loss;
        using (NewDisposeScope())
        {
            _optimizer.zero_grad();
            var objective = Settings.Target == TrainingTarget.Vae ? VaeLoss() : DitLoss();
            objective.backward();
            var norm = nn.utils.clip_grad_norm_(_parameters, Settings.GradientClip);
            loss = objective.item<float>();
            // A non-finite step would poison the weights and every checkpoint after it: stop before the update.
            if (!double.IsFinite(loss) || !double.IsFinite(norm))
                throw new ModelException($"Step {Step}: the loss ({loss}) or gradient norm ({norm}) is not finite; the weights were not updated. "
                    + "Lower the learning rate or resume from an earlier checkpoint.");
            _optimizer.step();
        }
        if (_ema is { } ema)
        {
            UpdateEma(ema.Dit, _model.Dit);
            if (!Settings.FreezeCaptionEncoder) UpdateEma(ema.Captions, _model.CaptionEncoder);
        }
        Step++;
        return loss;
    }

    /// <summary>
    /// Clips the VAE trains on are 1 to this many latent frames long: it is causal with a short reach in time, so longer
    /// clips cost more and teach it nothing new.
    /// </summary>
    private const int VaeClipLatentFrames = 5;

    /// <summary>
    /// Pixel MSE of a posterior sample's reconstruction plus the weighted KL term and, when weighted, the
    /// scale-equivariance term (<see cref="TrainingSettings.ScaleEquivarianceWeight"/>).
    /// </summary>
    private Tensor VaeLoss()
    {
        var latentFrames = 1 + _data.Random(DataStep, 0).Next(Math.Min(_model.Config.ChunkLatentFrames, VaeClipLatentFrames));
        using var batch = _data.At(DataStep, Settings.BatchSize, latentFrames);
        using var generator = StepGenerator();
        var (mean, logVar) = _model.Vae.EncodeMoments(batch.Video);
        var z = SpacetimeVae.SamplePosterior(mean, logVar, generator);
        var loss = nn.functional.mse_loss(_model.Vae.Decode(z), batch.Video, nn.Reduction.Mean) + Settings.KlWeight * SpacetimeVae.KlDivergence(mean, logVar);
        if (Settings.ScaleEquivarianceWeight == 0) return loss;
        if (z.shape[3] % 2 != 0 || z.shape[4] % 2 != 0)
            throw new ModelException($"Scale equivariance halves the latent grid; {z.shape[4]}x{z.shape[3]} latents do not halve.");
        var half = new long[] { 1, 2, 2 };
        var halfReconstruction = _model.Vae.Decode(nn.functional.avg_pool3d(z, half, half));
        return loss + Settings.ScaleEquivarianceWeight * nn.functional.mse_loss(halfReconstruction, nn.functional.avg_pool3d(batch.Video, half, half), nn.Reduction.Mean);
    }

    /// <summary>
    /// Flow matching on one chunk-sized window of latent frames, with the model's one conditioning mechanism drawn by
    /// <see cref="ConditioningOf"/>. Tails (the ends mode) are encoded from the timeline with the unknown frames blanked,
    /// as at sampling time.
    /// </summary>
    private Tensor DitLoss()
    {
        var config = _model.Config;
        var (chunk, b) = (config.ChunkLatentFrames, Settings.BatchSize);
        var window = ConditioningOf(Step);
        using var batch = _clips!.At(DataStep, b, chunk + window.Offset);
        var x0 = batch.Latents[.., .., window.Offset..(window.Offset + chunk)].clone();
        var captions = new string[b];
        for (var i = 0; i < b; i++)
        {
            var given = window.Given[i];
            if (given.Skip(1).Any(g => g) && window.Offset == 0)
            {
                // Tail latents depend on everything before them: encode the timeline with only the known frames in place.
                var known = Enumerable.Range(0, FrameCount.ToPixel(config, chunk))
                    .Select(p => given[p == 0 ? 0 : 1 + (p - 1) / config.TemporalCompression]).ToArray();
                var mask = tensor(known).view(1, 1, -1, 1, 1);
                var pixels = batch.Pixels(i)[.., .., ..known.Length];
                var timeline = _model.EncodeLatents(where(mask, pixels, zeros_like(pixels)));
                for (var f = 1; f < chunk; f++)
                    if (given[f]) x0[i, .., f] = timeline[0, .., f];
            }
            captions[i] = window.DropCaption[i] ? "" : batch.Captions[i];
        }
        using var generator = StepGenerator();
        var noise = FlowMatchingSampler.Noise(x0.shape, config.NoiseFrameCorrelation, generator);
        var givenMask = tensor(window.Given.SelectMany(g => g).ToArray(), [b, chunk]);
        var frameTimesteps = tensor(window.Timesteps.SelectMany(t => t).ToArray(), [b, chunk]);
        return FlowMatchingLoss(_model.Dit, _model.CaptionEncoder, x0, noise, frameTimesteps, givenMask.logical_not(), captions);
    }

    /// <summary>
    /// How a step's window is conditioned, drawn by <see cref="TrainingSettings.Modes"/>. A continuation batch is a
    /// window from the middle of longer clips whose first frames are given, as every chunk after a video's first is;
    /// every other batch starts at the clip's first latent frame (the one encoded alone), so a window's first frame is
    /// that frame exactly when nothing hands it over — as at sampling time. Given frames keep a small noise level;
    /// free frames share one logit-normal level per clip. Drawn by the step even on a fixed batch: a batch always seen
    /// at the same noise levels teaches the velocity at those levels alone, and its samples show nothing.
    /// </summary>
    public WindowConditioning ConditioningOf(int step)
    {
        var config = _model.Config;
        var (chunk, modes, b) = (config.ChunkLatentFrames, Settings.Modes, Settings.BatchSize);
        var stepRandom = _data.Random(step, ModeStream);
        var continuation = stepRandom.NextDouble() * modes.Total < modes.Continuation;
        var offset = continuation ? 1 + stepRandom.Next(MaxWindowOffset) : 0;
        var given = new bool[b][];
        var timesteps = new float[b][];
        var dropped = new bool[b];
        for (var i = 0; i < b; i++)
        {
            var random = _data.Random(step, 10_000 + i);
            var noiseLevel = random.Chance(0.5) ? 0f : (float)random.Between(0, Settings.MaxGivenSigma);
            var frames = given[i] = new bool[chunk];
            var mode = random.NextDouble() * (modes.TextToVideo + modes.FirstFrame + modes.Ends);
            if (continuation) for (var f = 0; f < 1 + random.Next(config.ContextLatentFrames); f++) frames[f] = true;
            else if (mode < modes.TextToVideo) { }
            else if (mode < modes.TextToVideo + modes.FirstFrame) frames[0] = true;
            else
            {
                frames[0] = random.Chance(0.4);
                for (var f = chunk - 1 - random.Next(config.ContextLatentFrames); f < chunk; f++) frames[f] = true;
            }
            var t = (float)(1 / (1 + Math.Exp(-(Settings.TimestepMean + Settings.TimestepStd * Gaussian(random)))));
            timesteps[i] = frames.Select(g => g ? noiseLevel : t).ToArray();
            dropped[i] = random.Chance(Settings.CaptionDropout);
        }
        return new WindowConditioning(offset, given, timesteps, dropped);
    }

    /// <summary>The random stream of a step's batch-wide choices, apart from the data's own draws.</summary>
    private const int ModeStream = 1_000_000;

    /// <summary>
    /// The flow-matching objective: each latent frame is noised to its level t, x_t = (1 − t)·x0 + t·ε, and the DiT
    /// predicts the velocity ε − x0; the loss is the mean squared error over the <paramref name="free"/> frames [B, T].
    /// </summary>
    public static Tensor FlowMatchingLoss(DiffusionTransformer dit, CaptionEncoder captionEncoder, Tensor x0, Tensor noise,
        Tensor frameTimesteps, Tensor free, string[] captions)
    {
        var (b, frames) = (x0.shape[0], x0.shape[2]);
        var level = frameTimesteps.view(b, 1, frames, 1, 1);
        var xt = (1 - level) * x0 + level * noise;
        using var tokens = captionEncoder.Encode(captions);
        var velocity = dit.forward(xt, frameTimesteps, tokens.Tokens, tokens.Mask);
        var weight = free.view(b, 1, frames, 1, 1).to(ScalarType.Float32);
        var error = (velocity - (noise - x0)).square() * weight;
        return error.sum() / (weight.sum() * x0.shape[1] * x0.shape[3] * x0.shape[4]).clamp_min(1);
    }

    private static double Gaussian(Reel.World.WorldRandom random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private int DataStep => Settings.FixedBatch ? 0 : Step;

    private Generator StepGenerator() => new(ChunkPlanner.ChunkSeed(Settings.Seed, Step), CPU);

    /// <summary>Latent mean and standard deviation per channel over a few batches, so the DiT sees unit-scale latents.</summary>
    private void MeasureLatentStatistics()
    {
        var channels = _model.Config.LatentChannels;
        _model.UseLatentStatistics(new float[channels], Enumerable.Repeat(1f, channels).ToArray());
        using var scope = NewDisposeScope();
        var samples = Enumerable.Range(0, 4).Select(i =>
        {
            using var batch = new WorldBatches(_model.Config, Settings.Seed ^ 0xA5A5A5A5UL).At(i, 8, _model.Config.ChunkLatentFrames);
            return _model.EncodeLatents(batch.Video).transpose(0, 1).reshape(channels, -1);
        }).ToList();
        var all = cat(samples, 1);
        _model.UseLatentStatistics(all.mean([1]).data<float>().ToArray(), all.std(1).clamp_min(1e-3).data<float>().ToArray());
    }

    private void UpdateEma(nn.Module ema, nn.Module live)
    {
        var decay = Settings.EmaDecayAt(Step);
        using var noGrad = no_grad();
        foreach (var (e, p) in ema.parameters().Zip(live.parameters())) e.mul_(decay).add_(p, alpha: 1 - decay);
    }

    private static void CopyInto(nn.Module target, nn.Module source)
    {
        using var noGrad = no_grad();
        foreach (var (t, s) in target.parameters().Zip(source.parameters())) t.copy_(s);
    }

    /// <summary>Saves everything needed to continue: weights, optimiser state, EMA, step and settings. Atomic.</summary>
    public void SaveCheckpoint(string folder)
    {
        var partial = folder + ".partial";
        if (Directory.Exists(partial)) Directory.Delete(partial, true);
        Directory.CreateDirectory(partial);
        _model.Save(Path.Combine(partial, ModelFolder));
        _optimizer.save_state_dict(Path.Combine(partial, OptimizerFile));
        if (_ema is { } ema)
        {
            Directory.CreateDirectory(Path.Combine(partial, EmaFolder));
            ema.Dit.save_safetensors(Path.Combine(partial, EmaFolder, WeightsFolder.DitFile));
            ema.Captions.save_safetensors(Path.Combine(partial, EmaFolder, WeightsFolder.CaptionEncoderFile));
        }
        File.WriteAllText(Path.Combine(partial, StateFile), JsonSerializer.Serialize(new CheckpointState(Step, Settings), StateJson));
        if (Directory.Exists(folder)) Directory.Delete(folder, true);
        Directory.Move(partial, folder);
    }

    /// <summary>A weights folder for sampling: the DiT and its EMA, the EMA caption encoder, the VAE, the manifest.</summary>
    public void Export(string folder)
    {
        _model.Save(folder);
        if (_ema is not { } ema) return;
        ema.Dit.save_safetensors(Path.Combine(folder, WeightsFolder.DitEmaFile));
        ema.Captions.save_safetensors(Path.Combine(folder, WeightsFolder.CaptionEncoderFile));
    }

    public void Dispose()
    {
        (_clips as IDisposable)?.Dispose();
        _optimizer.Dispose();
        _ema?.Dit.Dispose();
        _ema?.Captions.Dispose();
    }

    private sealed record CheckpointState(int Step, TrainingSettings Settings);
}
