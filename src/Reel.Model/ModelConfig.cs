using System.Text.Json;
using System.Text.Json.Serialization;

namespace Reel.Model;

/// <summary>A width × height in pixels.</summary>
public readonly record struct VideoSize(int Width, int Height)
{
    public override string ToString() => $"{Width}x{Height}";

    /// <summary>Parses "WxH" (e.g. "64x48").</summary>
    public static bool TryParse(string text, out VideoSize size)
    {
        size = default;
        var parts = text.Trim().ToLowerInvariant().Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out var w) || !int.TryParse(parts[1], out var h) || w <= 0 || h <= 0)
            return false;
        size = new VideoSize(w, h);
        return true;
    }
}

/// <summary>
/// Every architectural and sampling constant of one model size. The same code builds every size;
/// presets are the static properties below. Serialized into a weights folder's config.json.
/// </summary>
public sealed record ModelConfig
{
    public required string Name { get; init; }

    /// <summary>Frames per second of the videos this model makes.</summary>
    public required int FrameRate { get; init; }

    /// <summary>f_t: pixel frames per latent frame (after the first, which is encoded alone).</summary>
    public required int TemporalCompression { get; init; }

    /// <summary>f_s: pixels per latent cell along each spatial axis.</summary>
    public required int SpatialCompression { get; init; }

    public required int LatentChannels { get; init; }

    /// <summary>Width of the VAE's first level; level i has VaeChannels × VaeChannelMultipliers[i].</summary>
    public required int VaeChannels { get; init; }

    /// <summary>One entry per VAE level; there are max(log2(f_s / VaePatchSize), log2 f_t) levels.</summary>
    public required int[] VaeChannelMultipliers { get; init; }

    /// <summary>
    /// Pixels folded into channels before the VAE's first convolution (space to depth) and unfolded after its last:
    /// the full-resolution convolutions that dominate a small VAE's cost run at 1/p² of the pixels. Default 1.
    /// </summary>
    public int VaePatchSize { get; init; } = 1;

    public required int DitWidth { get; init; }
    public required int DitDepth { get; init; }
    public required int DitHeads { get; init; }

    /// <summary>Spatial patch p: a token covers (<see cref="PatchFrames"/>, p, p) latent cells.</summary>
    public required int PatchSize { get; init; }

    /// <summary>
    /// Temporal patch: a token covers this many latent frames, so a chunk's sequence, and a DiT step's cost with it,
    /// shrinks by as much. A token's conditioning embeds each of its frames' timesteps, so a given frame and a
    /// generated one can share a token; a chunk whose latent frames are not a multiple is padded at its end with clean
    /// zero frames whose prediction is dropped. Default 1 (weights written before this field).
    /// </summary>
    public int PatchFrames { get; init; } = 1;

    public double MlpRatio { get; init; } = 4.0;

    /// <summary>
    /// How the caption reaches the DiT: cross-attention to its tokens, its pooled embedding added to the timestep
    /// conditioning (and so to every block's modulation), or both. Default cross-attention.
    /// </summary>
    public CaptionConditioning CaptionConditioning { get; init; } = CaptionConditioning.CrossAttention;

    /// <summary>Base of the rotary frequencies along time (space keeps 10 000). Default 10 000.</summary>
    public double TemporalRotaryBase { get; init; } = 10000;

    /// <summary>
    /// Fixed 3D sin-cos positions added to the DiT's tokens besides the rotary ones (as DiT and the trial in
    /// ../shared/reference did): rotary positions are relative, so a token learns its absolute place in the frame and
    /// the chunk only from where the grid's edges are. Default false (weights written before this field).
    /// </summary>
    public bool AbsolutePositions { get; init; }

    /// <summary>
    /// What the DiT's last layer outputs: the velocity ε − x₀ itself, or the clean latents x₀, turned into the velocity
    /// (x_t − x₀)/t inside the DiT (t floored at <see cref="DiffusionTransformer.MinCleanTimestep"/>), so training's
    /// loss and the sampler read a velocity either way. Clean latents lie near a low-dimensional set where noise does
    /// not, which is what a token narrower than its patch can still produce (Li &amp; He 2025, "Back to Basics: Let
    /// Denoising Generative Models Denoise"). Default velocity (weights written before this field).
    /// </summary>
    public Prediction Prediction { get; init; } = Prediction.Velocity;

    /// <summary>
    /// Correlation ρ between the latent frames' noise in training and sampling: each frame's ε is √ρ·ε_shared +
    /// √(1 − ρ)·ε_own, so every frame keeps unit variance and frames start from mostly the same noise, as video frames
    /// mostly share their content ("mixed noise", Ge et al. 2023, "Preserve Your Own Correlation"). The noise of frames
    /// that differ only in motion then differs less, and a model that has not yet tied its frames together draws them
    /// from nearly the same start. Default 0: independent noise (weights written before this field).
    /// </summary>
    public double NoiseFrameCorrelation { get; init; }

    public required int CaptionWidth { get; init; }
    public required int CaptionDepth { get; init; }
    public required int CaptionHeads { get; init; }

    /// <summary>Caption tokens kept, including the leading [BOS]; longer captions are truncated.</summary>
    public required int MaxCaptionTokens { get; init; }

    /// <summary>Most latent frames one chunk (one DiT sequence) holds.</summary>
    public required int ChunkLatentFrames { get; init; }

    /// <summary>Latent frames each chunk after the first takes, as given, from the end of the one before.</summary>
    public required int OverlapLatentFrames { get; init; }

    /// <summary>
    /// Latent frames of existing footage a mode gives the model as context (extension, connection, loops): the overlap plus one.
    /// </summary>
    [JsonIgnore] public int ContextLatentFrames => OverlapLatentFrames + 1;

    /// <summary>Noise level σ of latent frames handed from one chunk to the next (noise augmentation against drift).</summary>
    public double ContinuationSigma { get; init; } = 0.02;

    /// <summary>
    /// Timestep shift s = exp(μ), μ interpolated linearly in the token count between
    /// (ShiftBaseTokens, ln ShiftBase) and (ShiftMaxTokens, ln ShiftMax): longer sequences spend more steps at high noise.
    /// </summary>
    public required int ShiftBaseTokens { get; init; }
    public required double ShiftBase { get; init; }
    public required int ShiftMaxTokens { get; init; }
    public required double ShiftMax { get; init; }

    public required int DefaultSteps { get; init; }
    public required double DefaultGuidance { get; init; }

    /// <summary>Frame sizes this model is trained for; the first is the default.</summary>
    public required VideoSize[] Sizes { get; init; }

    /// <summary>Longest video, in seconds, a request may ask for.</summary>
    public required double MaxSeconds { get; init; }

    /// <summary>
    /// Durations in seconds this model is trained for: the HTTP API maps the OpenAI SDK's standard durations to the
    /// nearest of them. Weights folders written before this field existed get the default, 2, 4 and 8 s.
    /// </summary>
    public double[] Durations { get; init; } = [2, 4, 8];

    [JsonIgnore] public VideoSize DefaultSize => Sizes[0];

    /// <summary>Pixels per token along each spatial axis: frame sizes must be multiples of it.</summary>
    [JsonIgnore] public int SizeMultiple => SpatialCompression * PatchSize;

    /// <summary>Rows of tokens (one per <see cref="PatchFrames"/> latent frames, the last one padded) a DiT sequence of that many latent frames has.</summary>
    public long TokenFrames(long latentFrames) => (latentFrames + PatchFrames - 1) / PatchFrames;

    /// <summary>Tokens of one DiT sequence over a latent grid of that many frames and cells.</summary>
    public long DitTokens(long latentFrames, long latentHeight, long latentWidth) =>
        TokenFrames(latentFrames) * (latentHeight / PatchSize) * (latentWidth / PatchSize);

    public static ModelConfig Test { get; } = new()
    {
        Name = "test", FrameRate = 8, TemporalCompression = 4, SpatialCompression = 4, LatentChannels = 4,
        VaeChannels = 8, VaeChannelMultipliers = [1, 2], VaePatchSize = 2,
        DitWidth = 32, DitDepth = 2, DitHeads = 2, PatchSize = 2,
        CaptionWidth = 32, CaptionDepth = 1, CaptionHeads = 2, MaxCaptionTokens = 32,
        ChunkLatentFrames = 3, OverlapLatentFrames = 1,
        ShiftBaseTokens = 16, ShiftBase = 1.0, ShiftMaxTokens = 256, ShiftMax = 2.0,
        DefaultSteps = 8, DefaultGuidance = 3.0,
        Sizes = [new(32, 32), new(48, 32), new(32, 48)], MaxSeconds = 20, Durations = [1, 2, 4],
    };

    /// <summary>
    /// The shipped configuration: <c>models/tiny</c> was trained with exactly this (a test holds the two equal), so a fresh
    /// <c>--config tiny</c> run starts the recipe that ships. The DiT is the compute-optimal size with the trial's recipe
    /// (caption pooled and cross-attended, absolute positions). Time is compressed 4×: halving it bought 5 points of
    /// shape at twice the DiT's tokens, and shape is limited by the spatial factor (MODEL.md, "The VAE's ceiling").
    /// </summary>
    public static ModelConfig Tiny { get; } = new()
    {
        Name = "tiny", FrameRate = 8, TemporalCompression = 4, SpatialCompression = 4, LatentChannels = 8,
        VaeChannels = 32, VaeChannelMultipliers = [1, 2], VaePatchSize = 2,
        DitWidth = 192, DitDepth = 4, DitHeads = 3, PatchSize = 2,
        CaptionConditioning = CaptionConditioning.Both, AbsolutePositions = true,
        CaptionWidth = 128, CaptionDepth = 2, CaptionHeads = 4, MaxCaptionTokens = 48,
        ChunkLatentFrames = 5, OverlapLatentFrames = 1,
        ShiftBaseTokens = 64, ShiftBase = 1.5, ShiftMaxTokens = 1024, ShiftMax = 3.0,
        DefaultSteps = 20, DefaultGuidance = 3.0,
        Sizes = [new(48, 48), new(64, 48), new(48, 64)], MaxSeconds = 30,
    };

    public static ModelConfig Small { get; } = new()
    {
        Name = "small", FrameRate = 16, TemporalCompression = 4, SpatialCompression = 8, LatentChannels = 16,
        VaeChannels = 64, VaeChannelMultipliers = [1, 2, 4],
        DitWidth = 512, DitDepth = 12, DitHeads = 8, PatchSize = 2,
        CaptionWidth = 384, CaptionDepth = 4, CaptionHeads = 6, MaxCaptionTokens = 128,
        ChunkLatentFrames = 9, OverlapLatentFrames = 2,
        ShiftBaseTokens = 256, ShiftBase = 1.5, ShiftMaxTokens = 8192, ShiftMax = 5.0,
        DefaultSteps = 30, DefaultGuidance = 5.0,
        Sizes = [new(256, 256), new(320, 192), new(192, 320)], MaxSeconds = 60, Durations = [4, 8, 12],
    };

    public static ModelConfig Base { get; } = new()
    {
        Name = "base", FrameRate = 24, TemporalCompression = 4, SpatialCompression = 8, LatentChannels = 16,
        VaeChannels = 128, VaeChannelMultipliers = [1, 2, 4],
        DitWidth = 1024, DitDepth = 24, DitHeads = 16, PatchSize = 2,
        CaptionWidth = 768, CaptionDepth = 6, CaptionHeads = 12, MaxCaptionTokens = 256,
        ChunkLatentFrames = 21, OverlapLatentFrames = 3,
        ShiftBaseTokens = 256, ShiftBase = 1.5, ShiftMaxTokens = 32768, ShiftMax = 7.0,
        DefaultSteps = 40, DefaultGuidance = 5.0,
        Sizes = [new(512, 512), new(640, 384), new(384, 640)], MaxSeconds = 120, Durations = [4, 8, 12, 20],
    };

    public static IReadOnlyList<ModelConfig> Presets { get; } = [Test, Tiny, Small, Base];

    /// <summary>A preset by its name, or a configuration written as JSON in a file <c>*.json</c> (a recipe experiment).</summary>
    public static ModelConfig Named(string name)
    {
        if (!name.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return Presets.FirstOrDefault(p => p.Name == name)
                ?? throw new ModelException($"Unknown configuration '{name}'. Known: {string.Join(", ", Presets.Select(p => p.Name))}, or a .json file.");
        ModelConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(name), WeightsManifest.Json);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new ModelException($"{name}: not a readable configuration ({e.Message}).");
        }
        if (config is null) throw new ModelException($"{name}: not a configuration.");
        config.Validate();
        return config;
    }

    /// <summary>Throws a <see cref="ModelException"/> naming the first inconsistency.</summary>
    public void Validate()
    {
        static bool PowerOfTwo(int v) => v > 0 && (v & (v - 1)) == 0;
        if (!PowerOfTwo(TemporalCompression) || !PowerOfTwo(SpatialCompression) || !PowerOfTwo(VaePatchSize) || VaePatchSize > SpatialCompression)
            throw new ModelException($"{Name}: compression factors and the VAE patch must be powers of two, the patch at most f_s.");
        if (VaeChannelMultipliers.Length != VaeLevels)
            throw new ModelException($"{Name}: {VaeLevels} VAE levels need {VaeLevels} channel multipliers, got {VaeChannelMultipliers.Length}.");
        if (PatchFrames < 1)
            throw new ModelException($"{Name}: a token must cover at least one latent frame.");
        if (DitWidth % DitHeads != 0 || DitWidth / DitHeads % 2 != 0)
            throw new ModelException($"{Name}: DiT width must split into heads of even width.");
        if (!(TemporalRotaryBase > 1))
            throw new ModelException($"{Name}: the temporal rotary base must be more than 1.");
        if (!(NoiseFrameCorrelation >= 0 && NoiseFrameCorrelation < 1))
            throw new ModelException($"{Name}: the noise's frame correlation must be at least 0 and below 1.");
        if (CaptionWidth % CaptionHeads != 0)
            throw new ModelException($"{Name}: caption width must split into heads.");
        if (OverlapLatentFrames < 1 || OverlapLatentFrames + 2 > ChunkLatentFrames)
            throw new ModelException($"{Name}: overlap must be at least 1 and leave two new frames in a chunk.");
        foreach (var size in Sizes)
            if (size.Width % SizeMultiple != 0 || size.Height % SizeMultiple != 0)
                throw new ModelException($"{Name}: size {size} is not a multiple of {SizeMultiple}.");
        if (Durations.Length == 0 || Durations.Any(d => !(d > 0 && d <= MaxSeconds)))
            throw new ModelException($"{Name}: durations must be listed, each more than 0 and at most {MaxSeconds} s.");
    }

    [JsonIgnore]
    public int VaeLevels => Math.Max(VaeSpatialLevels, int.Log2(TemporalCompression));

    /// <summary>Spatial halvings inside the VAE after the patch fold.</summary>
    [JsonIgnore]
    public int VaeSpatialLevels => int.Log2(SpatialCompression / VaePatchSize);
}

public enum CaptionConditioning { CrossAttention, Pooled, Both }

public enum Prediction { Velocity, Clean }

/// <summary>An error in what a caller asked of the model: bad sizes, mismatched weights, unknown names.</summary>
public sealed class ModelException(string message) : Exception(message);
