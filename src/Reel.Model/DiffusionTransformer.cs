using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>
/// Embeds the timesteps t ∈ [0, 1] of the latent frames a token spans: sinusoids of 1000·t, one set per frame, then a
/// two-layer MLP, so a token whose frames sit at different noise levels (one given, one generated) knows which is which.
/// </summary>
public sealed class TimestepEmbedder : nn.Module<Tensor, Tensor>
{
    private const int FrequencyDims = 256;
    private readonly CastingLinear fc1, fc2;
    private readonly long _frames;

    public TimestepEmbedder(long width, long framesPerToken = 1) : base(nameof(TimestepEmbedder))
    {
        _frames = framesPerToken;
        fc1 = new CastingLinear(FrequencyDims * framesPerToken, width);
        fc2 = new CastingLinear(width, width);
        RegisterComponents();
    }

    /// <summary>[B, T] timesteps of latent frames, T a multiple of the frames per token, to [B, T / frames, width].</summary>
    public override Tensor forward(Tensor t)
    {
        using var scope = NewDisposeScope();
        var half = FrequencyDims / 2;
        var freqs = exp(-Math.Log(10000) * arange(half, float32, t.device) / half);
        var args = (t.to(ScalarType.Float32) * 1000).unsqueeze(-1) * freqs;
        var embedding = cat([args.cos(), args.sin()], -1).view(t.shape[0], t.shape[1] / _frames, _frames * FrequencyDims);
        return fc2.forward(nn.functional.silu(fc1.forward(embedding))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A DiT block: self-attention over all spacetime tokens with 3D rotary positions, cross-attention to the
/// caption (unless the model conditions on the pooled caption alone), and an MLP. Self-attention and MLP are
/// modulated (shift, scale, gate) per row of tokens by adaLN-Zero, so each row follows its own frames' timesteps.
/// </summary>
public sealed class DitBlock : nn.Module
{
    private readonly Float32LayerNorm norm1, norm3;
    private readonly Float32LayerNorm? norm2;
    private readonly MultiHeadAttention attn;
    private readonly MultiHeadAttention? cross_attn;
    private readonly FeedForward mlp;
    private readonly CastingLinear adaLN_modulation;

    public DitBlock(long width, long heads, double mlpRatio, bool crossAttention) : base(nameof(DitBlock))
    {
        norm1 = new Float32LayerNorm(width, affine: false);
        attn = new MultiHeadAttention(width, heads, width);
        if (crossAttention)
        {
            norm2 = new Float32LayerNorm(width, affine: true);
            cross_attn = new MultiHeadAttention(width, heads, width);
        }
        norm3 = new Float32LayerNorm(width, affine: false);
        mlp = new FeedForward(width, mlpRatio);
        adaLN_modulation = new CastingLinear(width, 6 * width);
        RegisterComponents();
    }

    /// <param name="x">Tokens [B, T, S, D]: T rows (one per token depth of latent frames) of S tokens.</param>
    /// <param name="c">Conditioning per row [B, T, D].</param>
    /// <param name="caption">Caption tokens [B, L, D] for cross-attention; null when the block has none.</param>
    public Tensor forward(Tensor x, Tensor c, Tensor? caption, Tensor captionMask, RotaryTable rotary)
    {
        using var scope = NewDisposeScope();
        var (b, t, s, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var mod = adaLN_modulation.forward(nn.functional.silu(c)).unsqueeze(2).chunk(6, -1);
        var (shiftAttn, scaleAttn, gateAttn, shiftMlp, scaleMlp, gateMlp) = (mod[0], mod[1], mod[2], mod[3], mod[4], mod[5]);

        var h = Modulate(norm1.forward(x), shiftAttn, scaleAttn).view(b, t * s, d);
        x = addcmul(x, gateAttn, attn.forward(h, h, rotary: rotary).view(b, t, s, d), 1);
        if (cross_attn is not null)
        {
            var flat = norm2!.forward(x).view(b, t * s, d);
            x = x + cross_attn.forward(flat, caption!, captionMask).view(b, t, s, d);
        }
        x = addcmul(x, gateMlp, mlp.forward(Modulate(norm3.forward(x), shiftMlp, scaleMlp)), 1);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>x·(1 + scale) + shift in one fused pass.</summary>
    internal static Tensor Modulate(Tensor x, Tensor shift, Tensor scale) => addcmul(shift, x, 1 + scale, 1);

    internal void ZeroInitModulation()
    {
        nn.init.zeros_(adaLN_modulation.Weight);
        nn.init.zeros_(adaLN_modulation.Bias!);
    }
}

/// <summary>Per-row adaLN then a linear map from tokens back to (frames, p, p) patches of latent channels.</summary>
public sealed class FinalLayer : nn.Module
{
    private readonly Float32LayerNorm norm;
    private readonly CastingLinear linear, adaLN_modulation;

    public FinalLayer(long width, long patchValues) : base(nameof(FinalLayer))
    {
        norm = new Float32LayerNorm(width, affine: false);
        linear = new CastingLinear(width, patchValues);
        adaLN_modulation = new CastingLinear(width, 2 * width);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor c)
    {
        using var scope = NewDisposeScope();
        var mod = adaLN_modulation.forward(nn.functional.silu(c)).unsqueeze(2).chunk(2, -1);
        return linear.forward(DitBlock.Modulate(norm.forward(x), mod[0], mod[1])).MoveToOuterDisposeScope();
    }

    /// <summary>Zero output at initialisation: the untrained model predicts zero velocity (DiT's adaLN-Zero).</summary>
    internal void ZeroInit()
    {
        foreach (var layer in new[] { linear, adaLN_modulation })
        {
            nn.init.zeros_(layer.Weight);
            nn.init.zeros_(layer.Bias!);
        }
    }
}

/// <summary>
/// Diffusion transformer over spacetime patches. Latents [B, C, T, H, W] are cut into (f, p, p) patches
/// (<see cref="ModelConfig.PatchFrames"/>, <see cref="ModelConfig.PatchSize"/>), so every f latent frames are one row of
/// tokens conditioned on their own timesteps; positions are 3D rotary and restart at 0 in every chunk. The caption
/// enters by cross-attention, by its pooled embedding added to the timestep conditioning, or both
/// (<see cref="ModelConfig.CaptionConditioning"/>). Predicts the flow-matching velocity ε − x₀.
/// </summary>
public sealed class DiffusionTransformer : nn.Module
{
    private readonly CastingLinear x_embedder;
    private readonly TimestepEmbedder t_embedder;
    private readonly Sequential? caption_projection, caption_pooling;
    private readonly ModuleList<DitBlock> blocks = new();
    private readonly FinalLayer final_layer;
    private readonly long _patch, _patchFrames, _channels, _heads, _width;
    private readonly double _temporalRotaryBase;
    private readonly bool _absolutePositions;
    private readonly Prediction _prediction;
    private readonly ModelConfig _config;

    /// <summary>The smallest t the clean prediction divides by: below it (x_t − x₀)/t would magnify the model's error without bound.</summary>
    public const double MinCleanTimestep = 0.05;

    public DiffusionTransformer(ModelConfig config) : base(nameof(DiffusionTransformer))
    {
        (_patch, _patchFrames, _channels, _heads, _width) = (config.PatchSize, config.PatchFrames, config.LatentChannels, config.DitHeads, config.DitWidth);
        _temporalRotaryBase = config.TemporalRotaryBase;
        _absolutePositions = config.AbsolutePositions;
        _prediction = config.Prediction;
        _config = config;
        var patchValues = _channels * _patchFrames * _patch * _patch;
        x_embedder = new CastingLinear(patchValues, _width);
        t_embedder = new TimestepEmbedder(_width, _patchFrames);
        Sequential CaptionMlp() => nn.Sequential(
            new CastingLinear(config.CaptionWidth, _width), nn.GELU(GELU.Approximate.tanh), new CastingLinear(_width, _width));
        var crossAttention = config.CaptionConditioning != CaptionConditioning.Pooled;
        if (crossAttention) caption_projection = CaptionMlp();
        if (config.CaptionConditioning != CaptionConditioning.CrossAttention) caption_pooling = CaptionMlp();
        for (var i = 0; i < config.DitDepth; i++) blocks.Add(new DitBlock(_width, _heads, config.MlpRatio, crossAttention));
        final_layer = new FinalLayer(_width, patchValues);
        RegisterComponents();
        Initialize();
    }

    /// <summary>
    /// Precision of the activations; null computes in the weights' own. Training sets bfloat16 over float32 weights
    /// where that is faster (mixed precision: <see cref="CastingLinear"/>); norms and softmax stay float32.
    /// </summary>
    public ScalarType? ComputeType { get; set; }

    private void Initialize()
    {
        using var noGrad = no_grad();
        foreach (var module in modules().OfType<CastingLinear>())
        {
            nn.init.xavier_uniform_(module.Weight);
            if (module.Bias is not null) nn.init.zeros_(module.Bias);
        }
        foreach (var block in blocks) block.ZeroInitModulation();
        final_layer.ZeroInit();
    }

    /// <summary>
    /// Floating-point operations of one forward pass over a latent grid (multiply-adds count two): the token-wise linear
    /// layers, the attention products over the sequence and the caption, and the per-row modulation.
    /// </summary>
    public static double ForwardFlops(ModelConfig config, long batch, long latentFrames, long latentHeight, long latentWidth, long captionTokens)
    {
        double d = config.DitWidth, n = config.DitTokens(latentFrames, latentHeight, latentWidth), hidden = (long)(config.DitWidth * config.MlpRatio);
        var rows = config.TokenFrames(latentFrames);
        var cross = config.CaptionConditioning == CaptionConditioning.Pooled ? 0 : 1;
        var perTokenLinear = d * d + 2 * d * d + d * d + cross * (d * d + d * d) + 2 * d * hidden; // self q, kv, proj; cross q, proj; MLP
        var attention = 2 * 2 * n * d + cross * 2 * 2 * captionTokens * d; // QKᵀ and AV, self then cross
        var perBlock = n * (2 * perTokenLinear + attention) + cross * captionTokens * 2 * (2 * d * d) + rows * 2 * d * 6 * d;
        var embed = n * 2 * (config.LatentChannels * config.PatchFrames * config.PatchSize * config.PatchSize) * d * 2;
        return batch * (config.DitDepth * perBlock + embed + rows * 2 * (256 * config.PatchFrames * d + d * d));
    }

    /// <param name="x">Noisy latents [B, C, T, H, W]; H and W multiples of the patch size.</param>
    /// <param name="timesteps">Noise level of each latent frame [B, T].</param>
    /// <param name="caption">Caption tokens [B, L, caption width].</param>
    /// <param name="captionMask">[B, L], true for real tokens.</param>
    /// <returns>Velocity [B, C, T, H, W] in float32.</returns>
    public Tensor forward(Tensor x, Tensor timesteps, Tensor caption, Tensor captionMask)
    {
        using var scope = NewDisposeScope();
        var (b, c, frames, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
        if (h % _patch != 0 || w % _patch != 0)
            throw new ModelException($"Latent grid {w}x{h} is not a multiple of the patch size {_patch}.");
        var (hp, wp) = (h / _patch, w / _patch);
        var t = _config.TokenFrames(frames);
        var padding = t * _patchFrames - frames;
        var dtype = ComputeType ?? x_embedder.Weight.dtype;

        var padded = padding > 0 ? nn.functional.pad(x, [0, 0, 0, 0, 0, padding]) : x;
        var paddedTimesteps = padding > 0 ? nn.functional.pad(timesteps, [0, padding]) : timesteps;
        var patches = padded.to(dtype).view(b, c, t, _patchFrames, hp, _patch, wp, _patch).permute(0, 2, 4, 6, 1, 3, 5, 7)
            .reshape(b, t, hp * wp, c * _patchFrames * _patch * _patch);
        var tokens = x_embedder.forward(patches);
        if (_absolutePositions) tokens = tokens + SinCosPositions(t, hp, wp, _width, x.device).to(dtype).view(1, t, hp * wp, _width);
        var conditioning = t_embedder.forward(paddedTimesteps);
        if (caption_pooling is not null) conditioning = conditioning + caption_pooling.forward(PooledCaption(caption, captionMask)).unsqueeze(1);
        conditioning = conditioning.to(dtype);
        var context = caption_projection?.forward(caption.to(dtype));
        using var rotary = RotaryTable.ForGrid(t, hp, wp, _width / _heads, x.device, _temporalRotaryBase);
        foreach (var block in blocks) tokens = block.forward(tokens, conditioning, context, captionMask, rotary);
        var output = final_layer.forward(tokens, conditioning)
            .view(b, t, hp, wp, c, _patchFrames, _patch, _patch).permute(0, 4, 1, 5, 2, 6, 3, 7)
            .reshape(b, c, t * _patchFrames, h, w)[.., .., ..(int)frames].to(ScalarType.Float32);
        if (_prediction == Prediction.Clean)
            output = (x - output) / timesteps.view(b, 1, frames, 1, 1).clamp_min(MinCleanTimestep);
        return output.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Fixed sin-cos embeddings of each token's (frame, row, column) [T·H·W, dims] (<see cref="GridAngles"/>): any grid
    /// size gets its own, and a chunk's frames count from 0 like its rotary positions.
    /// </summary>
    public static Tensor SinCosPositions(long frames, long height, long width, long dims, Device device)
    {
        using var scope = NewDisposeScope();
        var angles = GridAngles.Of(frames, height, width, dims, device);
        return cat([angles.sin(), angles.cos()], -1).MoveToOuterDisposeScope();
    }

    /// <summary>The mean of the caption's real tokens [B, L, W] → [B, W], in float32.</summary>
    public static Tensor PooledCaption(Tensor caption, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var weights = mask.to(ScalarType.Float32).unsqueeze(-1);
        return ((caption.to(ScalarType.Float32) * weights).sum(1) / weights.sum(1).clamp_min(1)).MoveToOuterDisposeScope();
    }
}
