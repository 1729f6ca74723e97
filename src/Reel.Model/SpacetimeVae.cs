using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>
/// State carried between temporal chunks of a streaming encode or decode: each causal convolution's
/// trailing input frames, and which upsamplers have already produced the clip's first frame.
/// Whole-clip processing is streaming with a single chunk, so the two agree by construction.
/// </summary>
public sealed class CausalCache : IDisposable
{
    private readonly Dictionary<nn.Module, Tensor> _tails = [];
    private readonly HashSet<nn.Module> _started = [];

    internal Tensor? TakeTail(nn.Module owner) => _tails.Remove(owner, out var t) ? t : null;

    internal void PutTail(nn.Module owner, Tensor tail) => _tails[owner] = tail.DetachFromDisposeScope();

    /// <summary>True the first time <paramref name="owner"/> asks, false after.</summary>
    internal bool IsFirstCall(nn.Module owner) => _started.Add(owner);

    public void Dispose()
    {
        foreach (var t in _tails.Values) t.Dispose();
        _tails.Clear();
    }
}

/// <summary>
/// 3D convolution padded in time only toward the past (zeros before the first frame), so output frame i
/// depends on input frames ≤ i·stride. The input frames a later chunk still needs are kept in the cache.
/// </summary>
public sealed class CausalConv3d : nn.Module<Tensor, CausalCache, Tensor>
{
    private readonly Conv3d conv;
    private readonly long _timeKernel, _timeStride, _spaceStride, _spacePadding;

    public CausalConv3d(long inChannels, long outChannels, long timeKernel = 3, long spaceKernel = 3, long timeStride = 1, long spaceStride = 1)
        : base(nameof(CausalConv3d))
    {
        (_timeKernel, _timeStride, _spaceStride, _spacePadding) = (timeKernel, timeStride, spaceStride, spaceKernel / 2);
        Shape = new ConvolutionShape(inChannels, outChannels, timeKernel, spaceKernel, timeStride, spaceStride);
        conv = nn.Conv3d(inChannels, outChannels, (timeKernel, spaceKernel, spaceKernel),
            stride: (timeStride, spaceStride, spaceStride), padding: (0, spaceKernel / 2, spaceKernel / 2));
        RegisterComponents();
    }

    public ConvolutionShape Shape { get; }

    public override Tensor forward(Tensor x, CausalCache cache)
    {
        if (_timeKernel == 1 && _timeStride == 1) return Convolve(x);
        using var scope = NewDisposeScope();
        var past = cache.TakeTail(this)
            ?? zeros([x.shape[0], x.shape[1], _timeKernel - 1, x.shape[3], x.shape[4]], x.dtype, x.device);
        var padded = cat([past, x], 2);
        past.Dispose();
        var y = Convolve(padded);
        // The next output starts at padded frame stride·(outputs so far); everything from there on is still needed.
        cache.PutTail(this, padded[.., .., (int)(_timeStride * y.shape[2])..]);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>In the input's precision: bfloat16 activations train float32 weights (the casts are differentiable).</summary>
    private Tensor Convolve(Tensor x) =>
        Convolutions.Conv3d(x, conv.weight!.to(x.dtype), conv.bias?.to(x.dtype), _timeStride, _spaceStride, _spacePadding);
}

public sealed class VaeResBlock : nn.Module<Tensor, CausalCache, Tensor>
{
    private readonly RmsNorm norm1, norm2;
    private readonly CausalConv3d conv1, conv2;
    private readonly CausalConv3d? skip;

    public VaeResBlock(long inChannels, long outChannels) : base(nameof(VaeResBlock))
    {
        norm1 = new RmsNorm(inChannels, dim: 1);
        conv1 = new CausalConv3d(inChannels, outChannels);
        norm2 = new RmsNorm(outChannels, dim: 1);
        conv2 = new CausalConv3d(outChannels, outChannels);
        skip = inChannels == outChannels ? null : new CausalConv3d(inChannels, outChannels, timeKernel: 1, spaceKernel: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, CausalCache cache)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(nn.functional.silu(norm1.forward(x)), cache);
        h = conv2.forward(nn.functional.silu(norm2.forward(h)), cache);
        var residual = skip is null ? x : skip.forward(x, cache);
        return (residual + h).MoveToOuterDisposeScope();
    }
}

/// <summary>Halves space and/or time with one strided causal convolution; T = 1 + 2m frames become 1 + m.</summary>
public sealed class VaeDownsample : nn.Module<Tensor, CausalCache, Tensor>
{
    private readonly CausalConv3d conv;

    public VaeDownsample(long channels, bool time, bool space) : base(nameof(VaeDownsample))
    {
        conv = new CausalConv3d(channels, channels, timeKernel: time ? 3 : 1, timeStride: time ? 2 : 1, spaceStride: space ? 2 : 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, CausalCache cache) => conv.forward(x, cache);
}

/// <summary>
/// Doubles time and/or space. In time each frame becomes two (channels to time) and the clip's very first
/// output frame is dropped, so 1 + m frames become 1 + 2m: the mirror of <see cref="VaeDownsample"/>.
/// In space, nearest-neighbour doubling then a convolution.
/// </summary>
public sealed class VaeUpsample : nn.Module<Tensor, CausalCache, Tensor>
{
    private readonly CausalConv3d? timeConv;
    private readonly CausalConv3d? spaceConv;

    public VaeUpsample(long channels, bool time, bool space) : base(nameof(VaeUpsample))
    {
        if (time) timeConv = new CausalConv3d(channels, 2 * channels);
        if (space) spaceConv = new CausalConv3d(channels, channels, timeKernel: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, CausalCache cache)
    {
        using var scope = NewDisposeScope();
        if (timeConv is not null)
        {
            var (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
            x = timeConv.forward(x, cache).view(b, 2, c, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c, 2 * t, h, w);
            if (cache.IsFirstCall(this)) x = x[.., .., 1..];
        }
        if (spaceConv is not null)
            x = spaceConv.forward(x.repeat_interleave(2, dim: 3).repeat_interleave(2, dim: 4), cache);
        return x.MoveToOuterDisposeScope();
    }
}

public sealed class VaeEncoder : nn.Module<Tensor, CausalCache, Tensor>
{
    private readonly long _patch;
    private readonly CausalConv3d conv_in, conv_out;
    private readonly ModuleList<nn.Module<Tensor, CausalCache, Tensor>> levels = new();
    private readonly VaeResBlock mid;
    private readonly RmsNorm norm_out;

    public VaeEncoder(ModelConfig config) : base(nameof(VaeEncoder))
    {
        var widths = config.VaeChannelMultipliers.Select(m => (long)config.VaeChannels * m).ToArray();
        _patch = config.VaePatchSize;
        conv_in = new CausalConv3d(3L * _patch * _patch, widths[0]);
        var width = widths[0];
        for (var i = 0; i < widths.Length; i++)
        {
            levels.Add(new VaeResBlock(width, widths[i]));
            width = widths[i];
            levels.Add(new VaeDownsample(width, time: i < int.Log2(config.TemporalCompression), space: i < config.VaeSpatialLevels));
        }
        mid = new VaeResBlock(width, width);
        norm_out = new RmsNorm(width, dim: 1);
        conv_out = new CausalConv3d(width, 2L * config.LatentChannels);
        RegisterComponents();
    }

    /// <summary>Pixels [B, 3, T, H, W] in [-1, 1] to moments [B, 2C, T', H', W'] (mean then log-variance).</summary>
    public override Tensor forward(Tensor x, CausalCache cache)
    {
        using var scope = NewDisposeScope();
        x = conv_in.forward(PixelFolding.Fold(x, _patch), cache);
        foreach (var level in levels) x = level.forward(x, cache);
        x = mid.forward(x, cache);
        return conv_out.forward(nn.functional.silu(norm_out.forward(x)), cache).MoveToOuterDisposeScope();
    }
}

public sealed class VaeDecoder : nn.Module<Tensor, CausalCache, Tensor>
{
    private readonly long _patch;
    private readonly CausalConv3d conv_in, conv_out;
    private readonly VaeResBlock mid;
    private readonly ModuleList<nn.Module<Tensor, CausalCache, Tensor>> levels = new();
    private readonly RmsNorm norm_out;

    public VaeDecoder(ModelConfig config) : base(nameof(VaeDecoder))
    {
        var widths = config.VaeChannelMultipliers.Select(m => (long)config.VaeChannels * m).ToArray();
        var width = widths[^1];
        conv_in = new CausalConv3d(config.LatentChannels, width);
        mid = new VaeResBlock(width, width);
        for (var i = widths.Length - 1; i >= 0; i--)
        {
            levels.Add(new VaeResBlock(width, widths[i]));
            width = widths[i];
            levels.Add(new VaeUpsample(width, time: i < int.Log2(config.TemporalCompression), space: i < config.VaeSpatialLevels));
        }
        norm_out = new RmsNorm(width, dim: 1);
        _patch = config.VaePatchSize;
        conv_out = new CausalConv3d(width, 3L * _patch * _patch);
        RegisterComponents();
    }

    /// <summary>Latents [B, C, T', H', W'] to pixels [B, 3, T, H, W] (unclamped).</summary>
    public override Tensor forward(Tensor z, CausalCache cache)
    {
        using var scope = NewDisposeScope();
        var x = mid.forward(conv_in.forward(z, cache), cache);
        foreach (var level in levels) x = level.forward(x, cache);
        return PixelFolding.Unfold(conv_out.forward(nn.functional.silu(norm_out.forward(x)), cache), _patch).MoveToOuterDisposeScope();
    }
}

/// <summary>Space to depth and back, per frame: [B, C, T, H, W] ↔ [B, C·p², T, H/p, W/p].</summary>
public static class PixelFolding
{
    public static Tensor Fold(Tensor x, long p)
    {
        if (p == 1) return x.alias();
        var (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
        return x.view(b, c, t, h / p, p, w / p, p).permute(0, 1, 4, 6, 2, 3, 5).reshape(b, c * p * p, t, h / p, w / p);
    }

    public static Tensor Unfold(Tensor x, long p)
    {
        if (p == 1) return x.alias();
        var (b, c, t, h, w) = (x.shape[0], x.shape[1] / (p * p), x.shape[2], x.shape[3], x.shape[4]);
        return x.view(b, c, p, p, t, h, w).permute(0, 1, 4, 5, 2, 6, 3).reshape(b, c, t, h * p, w * p);
    }
}

/// <summary>
/// Causal spacetime VAE: video [B, 3, 1 + k·f_t, H, W] ↔ latents [B, C, 1 + k, H/f_s, W/f_s], with a KL bottleneck.
/// The first frame is encoded alone, so an image is a one-frame video. Encode and decode stream through time
/// in chunks of latent frames with a causal cache; peak memory depends on the chunk, not the video's length.
/// </summary>
public sealed class SpacetimeVae : nn.Module
{
    private readonly VaeEncoder encoder;
    private readonly VaeDecoder decoder;
    private readonly ModelConfig _config;

    public SpacetimeVae(ModelConfig config) : base(nameof(SpacetimeVae))
    {
        _config = config;
        encoder = new VaeEncoder(config);
        decoder = new VaeDecoder(config);
        RegisterComponents();
    }

    /// <summary>Posterior mean and log-variance, encoded <paramref name="latentFramesPerChunk"/> latent frames at a time.</summary>
    public (Tensor Mean, Tensor LogVar) EncodeMoments(Tensor video, int latentFramesPerChunk = int.MaxValue)
    {
        var frames = (int)video.shape[2];
        FrameCount.Require(_config, frames);
        if (video.shape[3] % _config.SpatialCompression != 0 || video.shape[4] % _config.SpatialCompression != 0)
            throw new ModelException($"Frame size {video.shape[4]}x{video.shape[3]} is not a multiple of {_config.SpatialCompression}.");
        var ft = _config.TemporalCompression;
        var perChunk = Math.Min(latentFramesPerChunk, FrameCount.ToLatent(_config, frames));
        var dtype = ComputeDtype;
        using var scope = NewDisposeScope();
        using var cache = new CausalCache();
        var parts = new List<Tensor>();
        // Chunk boundaries follow latent frames: the first chunk holds frame 0 plus whole groups of f_t.
        for (var start = 0; start < frames;)
        {
            var end = Math.Min(frames, start == 0 ? 1 + ft * (perChunk - 1) : start + ft * perChunk);
            using var step = NewDisposeScope();
            parts.Add(encoder.forward(video[.., .., start..end].to(dtype), cache).to(ScalarType.Float32).MoveToOuterDisposeScope());
            start = end;
        }
        var moments = cat(parts, 2).chunk(2, 1);
        return (moments[0].MoveToOuterDisposeScope(), moments[1].clamp(-30, 20).MoveToOuterDisposeScope());
    }

    /// <summary>A reparameterised draw z = μ + σ·ε from the posterior, with ε from <paramref name="generator"/>.</summary>
    public static Tensor SamplePosterior(Tensor mean, Tensor logVar, Generator generator)
    {
        using var scope = NewDisposeScope();
        var noise = randn(mean.shape, device: mean.device, generator: generator);
        return (mean + (0.5 * logVar).exp() * noise).MoveToOuterDisposeScope();
    }

    /// <summary>KL(N(μ, σ²) ‖ N(0, 1)) averaged over latent elements: the bottleneck's regulariser.</summary>
    public static Tensor KlDivergence(Tensor mean, Tensor logVar)
    {
        using var scope = NewDisposeScope();
        return (0.5 * (mean.square() + logVar.exp() - 1 - logVar)).mean().MoveToOuterDisposeScope();
    }

    /// <summary>The posterior mean: deterministic latents for conditioning and evaluation.</summary>
    public Tensor Encode(Tensor video, int latentFramesPerChunk = int.MaxValue)
    {
        var (mean, logVar) = EncodeMoments(video, latentFramesPerChunk);
        logVar.Dispose();
        return mean;
    }

    /// <summary>Decodes <paramref name="latentFramesPerChunk"/> latent frames at a time, yielding each chunk's pixels.</summary>
    public IEnumerable<Tensor> DecodeStreaming(Tensor latents, int latentFramesPerChunk)
    {
        var dtype = ComputeDtype;
        using var cache = new CausalCache();
        for (var start = 0; start < latents.shape[2]; start += latentFramesPerChunk)
        {
            var end = (int)Math.Min(latents.shape[2], start + latentFramesPerChunk);
            Tensor pixels;
            // Scopes must not stay open across a yield: the caller's tensors would land in them. Gradients only in training.
            using (set_grad_enabled(training))
            using (NewDisposeScope())
                pixels = decoder.forward(latents[.., .., start..end].to(dtype), cache).to(ScalarType.Float32).MoveToOuterDisposeScope();
            NativeMemoryPolicy.ReleaseFreedMemory();
            yield return pixels;
        }
    }

    public Tensor Decode(Tensor latents, int latentFramesPerChunk = int.MaxValue)
    {
        using var scope = NewDisposeScope();
        return cat(DecodeStreaming(latents, latentFramesPerChunk).ToList(), 2).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Precision of the activations; null computes in the weights' own. Training sets bfloat16 over float32 weights
    /// where that is faster; norms stay float32.
    /// </summary>
    public ScalarType? ComputeType { get; set; }

    private ScalarType ComputeDtype => ComputeType ?? parameters().First().dtype;

    /// <summary>Every convolution shape of the encoder and decoder.</summary>
    public IEnumerable<ConvolutionShape> ConvolutionShapes => modules().OfType<CausalConv3d>().Select(c => c.Shape);

    /// <summary>
    /// Makes sure this machine's convolutions are right for this VAE in its precision (with gradients when it
    /// trains): see <see cref="ConvolutionCheck"/>.
    /// </summary>
    public bool VerifyConvolutions(bool gradients = false) => ConvolutionCheck.Verify(ConvolutionShapes, ComputeDtype, gradients);
}
