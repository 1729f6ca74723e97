using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>Embeds a scalar timestep t ∈ [0, 1]: sinusoid of 1000·t, then a two-layer MLP.</summary>
public sealed class TimestepEmbedder : nn.Module<Tensor, Tensor>
{
    private const int FrequencyDims = 256;
    private readonly Linear fc1, fc2;

    public TimestepEmbedder(long width) : base(nameof(TimestepEmbedder))
    {
        fc1 = nn.Linear(FrequencyDims, width);
        fc2 = nn.Linear(width, width);
        RegisterComponents();
    }

    /// <summary>[...] timesteps to [..., width].</summary>
    public override Tensor forward(Tensor t)
    {
        using var scope = NewDisposeScope();
        var half = FrequencyDims / 2;
        var freqs = exp(-Math.Log(10000) * arange(half, float32, t.device) / half);
        var args = (t.to(ScalarType.Float32) * 1000).unsqueeze(-1) * freqs;
        var embedding = cat([args.cos(), args.sin()], -1).to(fc1.weight!.dtype);
        return fc2.forward(nn.functional.silu(fc1.forward(embedding))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A DiT block: self-attention over all spacetime tokens with 3D rotary positions, cross-attention to the
/// caption, and an MLP. Self-attention and MLP are modulated (shift, scale, gate) per latent frame by adaLN-Zero,
/// so each frame follows its own timestep.
/// </summary>
public sealed class DitBlock : nn.Module
{
    private readonly Float32LayerNorm norm1, norm2, norm3;
    private readonly MultiHeadAttention attn, cross_attn;
    private readonly FeedForward mlp;
    private readonly Linear adaLN_modulation;

    public DitBlock(long width, long heads, double mlpRatio) : base(nameof(DitBlock))
    {
        norm1 = new Float32LayerNorm(width, affine: false);
        attn = new MultiHeadAttention(width, heads, width);
        norm2 = new Float32LayerNorm(width, affine: true);
        cross_attn = new MultiHeadAttention(width, heads, width);
        norm3 = new Float32LayerNorm(width, affine: false);
        mlp = new FeedForward(width, mlpRatio);
        adaLN_modulation = nn.Linear(width, 6 * width);
        RegisterComponents();
    }

    /// <param name="x">Tokens [B, T, S, D]: T latent frames of S tokens.</param>
    /// <param name="c">Conditioning per frame [B, T, D].</param>
    public Tensor forward(Tensor x, Tensor c, Tensor caption, Tensor captionMask, RotaryTable rotary)
    {
        using var scope = NewDisposeScope();
        var (b, t, s, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var mod = adaLN_modulation.forward(nn.functional.silu(c)).unsqueeze(2).chunk(6, -1);
        var (shiftAttn, scaleAttn, gateAttn, shiftMlp, scaleMlp, gateMlp) = (mod[0], mod[1], mod[2], mod[3], mod[4], mod[5]);

        var h = Modulate(norm1.forward(x), shiftAttn, scaleAttn).view(b, t * s, d);
        x = addcmul(x, gateAttn, attn.forward(h, h, rotary: rotary).view(b, t, s, d), 1);
        var flat = norm2.forward(x).view(b, t * s, d);
        x = x + cross_attn.forward(flat, caption, captionMask).view(b, t, s, d);
        x = addcmul(x, gateMlp, mlp.forward(Modulate(norm3.forward(x), shiftMlp, scaleMlp)), 1);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>x·(1 + scale) + shift in one fused pass.</summary>
    internal static Tensor Modulate(Tensor x, Tensor shift, Tensor scale) => addcmul(shift, x, 1 + scale, 1);

    internal void ZeroInitModulation()
    {
        nn.init.zeros_(adaLN_modulation.weight!);
        nn.init.zeros_(adaLN_modulation.bias!);
    }
}

/// <summary>Per-frame adaLN then a linear map from tokens back to (1, p, p) patches of latent channels.</summary>
public sealed class FinalLayer : nn.Module
{
    private readonly Float32LayerNorm norm;
    private readonly Linear linear, adaLN_modulation;

    public FinalLayer(long width, long patchValues) : base(nameof(FinalLayer))
    {
        norm = new Float32LayerNorm(width, affine: false);
        linear = nn.Linear(width, patchValues);
        adaLN_modulation = nn.Linear(width, 2 * width);
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
            nn.init.zeros_(layer.weight!);
            nn.init.zeros_(layer.bias!);
        }
    }
}

/// <summary>
/// Diffusion transformer over spacetime patches. Latents [B, C, T, H, W] are cut into (1, p, p) patches, so every
/// latent frame is its own row of tokens with its own timestep; positions are 3D rotary and restart at 0 in every
/// chunk. Predicts the flow-matching velocity ε − x₀.
/// </summary>
public sealed class DiffusionTransformer : nn.Module
{
    private readonly Linear x_embedder;
    private readonly TimestepEmbedder t_embedder;
    private readonly Sequential caption_projection;
    private readonly ModuleList<DitBlock> blocks = new();
    private readonly FinalLayer final_layer;
    private readonly long _patch, _channels, _heads, _width;

    public DiffusionTransformer(ModelConfig config) : base(nameof(DiffusionTransformer))
    {
        (_patch, _channels, _heads, _width) = (config.PatchSize, config.LatentChannels, config.DitHeads, config.DitWidth);
        var patchValues = _channels * _patch * _patch;
        x_embedder = nn.Linear(patchValues, _width);
        t_embedder = new TimestepEmbedder(_width);
        caption_projection = nn.Sequential(
            nn.Linear(config.CaptionWidth, _width), nn.GELU(GELU.Approximate.tanh), nn.Linear(_width, _width));
        for (var i = 0; i < config.DitDepth; i++) blocks.Add(new DitBlock(_width, _heads, config.MlpRatio));
        final_layer = new FinalLayer(_width, patchValues);
        RegisterComponents();
        Initialize();
    }

    private void Initialize()
    {
        using var noGrad = no_grad();
        foreach (var module in modules().OfType<Linear>())
        {
            nn.init.xavier_uniform_(module.weight!);
            if (module.bias is not null) nn.init.zeros_(module.bias);
        }
        foreach (var block in blocks) block.ZeroInitModulation();
        final_layer.ZeroInit();
    }

    /// <summary>
    /// Floating-point operations of one forward pass (multiply-adds count two): the token-wise linear layers, the
    /// attention products over the sequence and the caption, and the per-frame modulation.
    /// </summary>
    public static double ForwardFlops(ModelConfig config, long batch, long tokensPerFrame, long frames, long captionTokens)
    {
        double d = config.DitWidth, n = tokensPerFrame * frames, hidden = (long)(config.DitWidth * config.MlpRatio);
        var perTokenLinear = d * d + 2 * d * d + d * d + d * d + d * d + 2 * d * hidden; // self q, kv, proj; cross q, proj; MLP
        var attention = 2 * 2 * n * d + 2 * 2 * captionTokens * d; // QKᵀ and AV, self then cross
        var perBlock = n * (2 * perTokenLinear + attention) + captionTokens * 2 * (2 * d * d) + frames * 2 * d * 6 * d;
        var embed = n * 2 * (config.LatentChannels * config.PatchSize * config.PatchSize) * d * 2;
        return batch * (config.DitDepth * perBlock + embed + frames * 2 * (256 * d + d * d));
    }

    /// <param name="x">Noisy latents [B, C, T, H, W]; H and W multiples of the patch size.</param>
    /// <param name="timesteps">Noise level of each latent frame [B, T].</param>
    /// <param name="caption">Caption tokens [B, L, caption width].</param>
    /// <param name="captionMask">[B, L], true for real tokens.</param>
    /// <returns>Velocity [B, C, T, H, W] in float32.</returns>
    public Tensor forward(Tensor x, Tensor timesteps, Tensor caption, Tensor captionMask)
    {
        using var scope = NewDisposeScope();
        var (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]);
        if (h % _patch != 0 || w % _patch != 0)
            throw new ModelException($"Latent grid {w}x{h} is not a multiple of the patch size {_patch}.");
        var (hp, wp) = (h / _patch, w / _patch);
        var dtype = x_embedder.weight!.dtype;

        var patches = x.to(dtype).view(b, c, t, hp, _patch, wp, _patch).permute(0, 2, 3, 5, 1, 4, 6)
            .reshape(b, t, hp * wp, c * _patch * _patch);
        var tokens = x_embedder.forward(patches);
        var conditioning = t_embedder.forward(timesteps);
        var context = caption_projection.forward(caption.to(dtype));
        using var rotary = RotaryTable.ForGrid(t, hp, wp, _width / _heads, x.device);
        foreach (var block in blocks) tokens = block.forward(tokens, conditioning, context, captionMask, rotary);
        var output = final_layer.forward(tokens, conditioning)
            .view(b, t, hp, wp, c, _patch, _patch).permute(0, 4, 1, 2, 5, 3, 6).reshape(b, c, t, h, w);
        return output.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }
}
