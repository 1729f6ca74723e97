using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>Where and in what precision a model runs: "cpu" or "cuda[:n]"; float32 or bfloat16 (never float16 on CPU).</summary>
public sealed record ModelRuntime(string Device = "cpu", ScalarType Dtype = ScalarType.Float32)
{
    public Device ResolveDevice()
    {
        if (Device.StartsWith("cuda", StringComparison.Ordinal) && !cuda.is_available())
            throw new ModelException($"Device '{Device}' requested but CUDA is not available (this build is CPU-only unless built with -p:ReelGpu=true).");
        try
        {
            return torch.device(Device);
        }
        catch (ArgumentException)
        {
            throw new ModelException($"Unknown device '{Device}'; use cpu or cuda[:index].");
        }
    }

    /// <summary>The dtype a model silo takes for "whichever of float32 and bfloat16 runs faster here, measured at start".</summary>
    public const string FasterDtype = "auto";

    /// <summary>The name <see cref="ParseDtype"/> reads back: float32 or bfloat16.</summary>
    public static string DtypeName(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bfloat16" : "float32";

    public static ScalarType ParseDtype(string name) => name.ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "fp16" => throw new ModelException("float16 is not supported: use bfloat16 (fp16 is ~1000x slower on CPU)."),
        _ => throw new ModelException($"Unknown dtype '{name}'; use float32 or bfloat16."),
    };
}

/// <summary>
/// One model version in memory: VAE, DiT and caption encoder with the manifest they belong to. Latents the DiT sees
/// are normalised per channel by the manifest's statistics; <see cref="EncodeLatents"/> and <see cref="DecodeLatents"/> convert.
/// </summary>
public sealed class ReelModel : IDisposable
{
    private static readonly Lock FreshInitLock = new();

    static ReelModel() => NativeMemoryPolicy.KeepStepMemory();

    private ReelModel(WeightsManifest manifest, ModelRuntime runtime, string? weightsHash)
    {
        Manifest = manifest;
        Runtime = runtime;
        Device = runtime.ResolveDevice();
        WeightsHash = weightsHash;
        Vae = new SpacetimeVae(manifest.Config);
        Dit = new DiffusionTransformer(manifest.Config);
        CaptionEncoder = new CaptionEncoder(manifest.Config, manifest.Vocabulary);
    }

    public WeightsManifest Manifest { get; private set; }
    public ModelConfig Config => Manifest.Config;
    public ModelRuntime Runtime { get; }
    public Device Device { get; }

    /// <summary>The weights folder's content hash; null for fresh (untrained) weights.</summary>
    public string? WeightsHash { get; }

    public SpacetimeVae Vae { get; }
    public DiffusionTransformer Dit { get; }
    public CaptionEncoder CaptionEncoder { get; }

    private IEnumerable<nn.Module> Networks => [Vae, Dit, CaptionEncoder];

    /// <summary>Freshly initialised weights of <paramref name="config"/>, the same for the same seed.</summary>
    public static ReelModel Create(ModelConfig config, ModelRuntime? runtime = null, ulong seed = 0)
    {
        config.Validate();
        ReelModel model;
        // Module initialisers draw from libtorch's global generator; the lock keeps concurrent creations apart.
        lock (FreshInitLock)
        {
            random.manual_seed((long)seed);
            model = new ReelModel(WeightsManifest.Fresh(config), runtime ?? new ModelRuntime(), null);
        }
        return model.Prepare();
    }

    /// <summary>Loads a weights folder, refusing any mismatch with a message naming what differs.</summary>
    public static ReelModel Load(string folder, ModelRuntime? runtime = null)
    {
        var manifest = WeightsFolder.ReadManifest(folder);
        var vaePath = Path.Combine(folder, WeightsFolder.VaeFile);
        if (!File.Exists(vaePath)) throw new ModelException($"Weights folder '{folder}' has no {WeightsFolder.VaeFile}.");
        var vaeHash = WeightsFolder.FileHash(vaePath);
        if (vaeHash != manifest.VaeHash)
            throw new ModelException($"The DiT in '{folder}' was trained with VAE {Short(manifest.VaeHash)}, "
                + $"but {WeightsFolder.VaeFile} there is {Short(vaeHash)}: use the VAE the DiT was trained with.");
        var model = new ReelModel(manifest, runtime ?? new ModelRuntime(), WeightsFolder.ContentHash(folder));
        var ema = Path.Combine(folder, WeightsFolder.DitEmaFile);
        // Sampling uses the EMA weights when the folder has them.
        var dit = File.Exists(ema) ? ema : Path.Combine(folder, WeightsFolder.DitFile);
        foreach (var (module, path) in new (nn.Module, string)[]
                 { (model.Vae, vaePath), (model.Dit, dit), (model.CaptionEncoder, Path.Combine(folder, WeightsFolder.CaptionEncoderFile)) })
        {
            WeightsFolder.RequireShapes(path, module.state_dict().ToDictionary(p => p.Key, p => p.Value.shape), manifest.Config.Name);
            // Loading copies bytes: the module takes the file's precision first (a packed DiT is float16).
            module.to(WeightsFolder.StoredType(path));
            module.load_safetensors(path);
        }
        return model.Prepare();
    }

    /// <summary>
    /// Writes the weights and a manifest pairing the DiT with this VAE: float32, except the DiT in
    /// <paramref name="ditStorage"/> when given (float16 halves a shipped folder; it loads back into float32).
    /// </summary>
    public void Save(string folder, ScalarType ditStorage = ScalarType.Float32)
    {
        Directory.CreateDirectory(folder);
        foreach (var (module, name, storage) in new (nn.Module, string, ScalarType)[]
                 {
                     (Vae, WeightsFolder.VaeFile, ScalarType.Float32), (Dit, WeightsFolder.DitFile, ditStorage),
                     (CaptionEncoder, WeightsFolder.CaptionEncoderFile, ScalarType.Float32),
                 })
        {
            module.to(storage).save_safetensors(Path.Combine(folder, name));
            module.to(Runtime.Dtype);
        }
        File.Delete(Path.Combine(folder, WeightsFolder.DitEmaFile));
        WeightsFolder.WriteManifest(folder, Manifest with { VaeHash = WeightsFolder.FileHash(Path.Combine(folder, WeightsFolder.VaeFile)) });
    }

    /// <summary>Per-channel latent statistics measured on training data; the DiT works on latents normalised by them.</summary>
    public void UseLatentStatistics(float[] mean, float[] std)
    {
        if (mean.Length != Config.LatentChannels || std.Length != Config.LatentChannels)
            throw new ModelException($"Latent statistics need {Config.LatentChannels} channels.");
        Manifest = Manifest with { LatentMean = mean, LatentStd = std };
    }

    /// <summary>Takes <paramref name="source"/>'s VAE, its latent statistics and its identity: a new DiT on a trained VAE.</summary>
    public void UseVae(ReelModel source)
    {
        using (no_grad()) Vae.load_state_dict(source.Vae.state_dict());
        Manifest = Manifest with { LatentMean = source.Manifest.LatentMean, LatentStd = source.Manifest.LatentStd, VaeHash = source.Manifest.VaeHash };
    }

    /// <summary>Takes <paramref name="source"/>'s caption encoder: the same caption configuration and vocabulary are required.</summary>
    public void UseCaptionEncoder(ReelModel source)
    {
        var (mine, theirs) = (Config, source.Config);
        if ((mine.CaptionWidth, mine.CaptionDepth, mine.CaptionHeads, mine.MaxCaptionTokens) != (theirs.CaptionWidth, theirs.CaptionDepth, theirs.CaptionHeads, theirs.MaxCaptionTokens)
            || !Manifest.Vocabulary.SequenceEqual(source.Manifest.Vocabulary))
            throw new ModelException($"The caption encoder of '{theirs.Name}' has another width, depth, heads, length or vocabulary than this model's.");
        using (no_grad()) CaptionEncoder.load_state_dict(source.CaptionEncoder.state_dict());
    }

    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());

    /// <summary>Pixels [1, 3, T, H, W] in [-1, 1] to normalised latents, streamed chunk by chunk.</summary>
    public Tensor EncodeLatents(Tensor video)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (mean, std) = LatentStatistics();
        return ((Vae.Encode(video.to(Device), Config.ChunkLatentFrames) - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Latent frames decoded per streaming step. One keeps every step the same shape (f_t frames, one for the first)
    /// and peak memory at its lowest (measured: 8× the length costs ≤ 1.06× the peak); more steps cost little time.
    /// </summary>
    public const int DecodeLatentFramesPerStep = 1;

    /// <summary>Normalised latents to pixels [1, 3, T, H, W], decoded in one causal pass a few frames at a time.</summary>
    public IEnumerable<Tensor> DecodeLatents(Tensor latents)
    {
        var (mean, std) = LatentStatistics();
        using var raw = latents.to(Device) * std + mean;
        mean.Dispose();
        std.Dispose();
        foreach (var pixels in Vae.DecodeStreaming(raw, DecodeLatentFramesPerStep)) yield return pixels;
    }

    private (Tensor Mean, Tensor Std) LatentStatistics() =>
        (tensor(Manifest.LatentMean, device: Device).view(1, -1, 1, 1, 1), tensor(Manifest.LatentStd, device: Device).view(1, -1, 1, 1, 1));

    private ReelModel Prepare()
    {
        foreach (var module in Networks)
        {
            module.to(Device);
            module.to(Runtime.Dtype);
            module.eval();
        }
        if (Device.type == DeviceType.CPU) Vae.VerifyConvolutions();
        return this;
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash == "" ? "(none)" : hash;

    public void Dispose()
    {
        foreach (var module in Networks) module.Dispose();
    }
}
