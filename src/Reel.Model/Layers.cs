using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>
/// RMS normalisation over one dimension, computed in float32 whatever the weights' dtype.
/// Over channels (dim 1) in the VAE, it never mixes frames or positions, so streaming stays exact.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly long _dim;

    public RmsNorm(long features, long dim = -1) : base(nameof(RmsNorm))
    {
        _dim = dim;
        weight = new Parameter(ones(features));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x32 = x.to(ScalarType.Float32);
        var normed = x32 * (x32.square().mean([_dim], keepdim: true) + 1e-6).rsqrt();
        var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
        shape[_dim < 0 ? x.dim() + _dim : _dim] = -1;
        return (normed * weight.to(ScalarType.Float32).view(shape)).to(x.dtype).MoveToOuterDisposeScope();
    }
}

/// <summary>LayerNorm over the last dimension in float32 (bf16 statistics are too coarse), optionally affine.</summary>
public sealed class Float32LayerNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter? weight, bias;
    private readonly long _features;

    public Float32LayerNorm(long features, bool affine) : base(nameof(Float32LayerNorm))
    {
        _features = features;
        if (affine)
        {
            weight = new Parameter(ones(features));
            bias = new Parameter(zeros(features));
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.layer_norm(x.to(ScalarType.Float32), [_features],
            weight?.to(ScalarType.Float32), bias?.to(ScalarType.Float32), 1e-6);
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// y = x·Wᵀ + b computed in the precision of its input. TorchSharp has no autocast: this is how float32 master
/// weights train under bfloat16 activations (the cast is differentiable), and weights already in the input's
/// precision are used as they are. Parameter names and initialisation are those of <c>nn.Linear</c>.
/// </summary>
public sealed class CastingLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    public CastingLinear(long inputs, long outputs, bool hasBias = true) : base(nameof(CastingLinear))
    {
        using var initial = nn.Linear(inputs, outputs, hasBias);
        weight = new Parameter(initial.weight!.detach().clone());
        if (hasBias) bias = new Parameter(initial.bias!.detach().clone());
        RegisterComponents();
    }

    public Parameter Weight => weight;
    public Parameter? Bias => bias;

    /// <summary>
    /// Inputs with fewer rows are padded to this many. libtorch's CPU float32 GEMM takes another kernel for a handful
    /// of rows (measured: 1–3, 5–7 and 9–11 rows give other bits than the same rows inside a larger input, 12 or more
    /// never do), so without it a row's result would depend on how many rows it shares the call with — and a
    /// session's steps could not be batched with other sessions' and stay bit-identical to running alone.
    /// </summary>
    public const long MinRows = 16;

    /// <summary>
    /// Every input is computed as rows [N, in] (one fused multiply-add with the bias): libtorch computes a 3D input
    /// as a product then a separate bias add, other bits than the same rows in 2D.
    /// </summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (w, b) = x.dtype == weight.dtype ? (weight, bias) : (weight.to(x.dtype), bias?.to(x.dtype));
        var rows = x.numel() / x.shape[^1];
        var flat = x.reshape(rows, x.shape[^1]);
        var y = rows >= MinRows || rows == 0
            ? nn.functional.linear(flat, w, b)
            : nn.functional.linear(nn.functional.pad(flat, [0, 0, 0, MinRows - rows]), w, b)[..(int)rows];
        return y.reshape([.. x.shape[..^1], w.shape[0]]).MoveToOuterDisposeScope();
    }
}

public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly CastingLinear fc1, fc2;

    public FeedForward(long width, double ratio) : base(nameof(FeedForward))
    {
        fc1 = new CastingLinear(width, (long)(width * ratio));
        fc2 = new CastingLinear((long)(width * ratio), width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(nn.functional.gelu(fc1.forward(x), GELU.Approximate.tanh)).MoveToOuterDisposeScope();
    }
}

/// <summary>Position angles of a (T, H, W) token grid, what rotary and sin-cos positions are both made of.</summary>
public static class GridAngles
{
    /// <summary>
    /// Angles [T·H·W, dims / 2], row-major like the token order: each axis takes an even part of the dims (time the
    /// remainder), so any grid — any size, aspect ratio, length, one frame — is valid and a position means the same
    /// place in every grid. Space uses the usual base of 10 000; <paramref name="timeBase"/> sets time's.
    /// </summary>
    public static Tensor Of(long frames, long height, long width, long dims, Device device, double timeBase = 10000)
    {
        using var scope = NewDisposeScope();
        var spatialDims = 2 * (dims / 6);
        Tensor Axis(long count, long axisDims, double @base = 10000) =>
            outer(arange(count, float32, device), pow(@base, -arange(0, axisDims, 2, float32, device) / axisDims));
        var t = Axis(frames, dims - 2 * spatialDims, timeBase)[.., TensorIndex.None, TensorIndex.None, ..].expand(frames, height, width, -1);
        var h = Axis(height, spatialDims)[TensorIndex.None, .., TensorIndex.None, ..].expand(frames, height, width, -1);
        var w = Axis(width, spatialDims)[TensorIndex.None, TensorIndex.None, .., ..].expand(frames, height, width, -1);
        return cat([t, h, w], -1).reshape(frames * height * width, dims / 2).MoveToOuterDisposeScope();
    }
}

/// <summary>Rotary position tables: cos and sin of shape [N, headDim], each angle repeated for its pair of channels.</summary>
public sealed record RotaryTable(Tensor Cos, Tensor Sin) : IDisposable
{
    /// <summary>
    /// 3D rotary positions over a (T, H, W) token grid (<see cref="GridAngles"/>); time's base is its own (a few latent
    /// frames per chunk leave most of 10 000's slow frequencies unused).
    /// </summary>
    public static RotaryTable ForGrid(long frames, long height, long width, long headDim, Device device, double timeBase = 10000)
    {
        using var scope = NewDisposeScope();
        var angles = GridAngles.Of(frames, height, width, headDim, device, timeBase).repeat_interleave(2, dim: 1);
        return new RotaryTable(angles.cos().MoveToOuterDisposeScope(), angles.sin().MoveToOuterDisposeScope());
    }

    /// <summary>Rotates consecutive channel pairs (x₀, x₁) of <paramref name="x"/> [B, heads, N, headDim] by their angles.</summary>
    public Tensor Apply(Tensor x)
    {
        using var scope = NewDisposeScope();
        var pairs = x.view([.. x.shape[..^1], -1, 2]);
        // (x₀, x₁) ↦ (x₀·cos − x₁·sin, x₀·sin + x₁·cos) = x·cos + (−x₁, x₀)·sin
        var turned = stack([pairs[.., .., .., .., 1].neg(), pairs[.., .., .., .., 0]], -1).view(x.shape);
        return (x * Cos.to(x.dtype) + turned * Sin.to(x.dtype)).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Cos.Dispose();
        Sin.Dispose();
    }
}

/// <summary>
/// Multi-head attention through <c>scaled_dot_product_attention</c> with layer-normalised queries and keys
/// (QK-norm keeps attention logits bounded; LayerNorm has a fused kernel, several times faster than RMS norm composed of ops).
/// Self-attention passes the tokens as their own context; cross-attention passes caption tokens and their mask.
/// </summary>
public sealed class MultiHeadAttention : nn.Module
{
    private readonly CastingLinear q, kv, proj;
    private readonly Float32LayerNorm q_norm, k_norm;
    private readonly long _heads;

    public MultiHeadAttention(long width, long heads, long contextWidth) : base(nameof(MultiHeadAttention))
    {
        _heads = heads;
        q = new CastingLinear(width, width);
        kv = new CastingLinear(contextWidth, 2 * width);
        proj = new CastingLinear(width, width);
        q_norm = new Float32LayerNorm(width / heads, affine: true);
        k_norm = new Float32LayerNorm(width / heads, affine: true);
        RegisterComponents();
    }

    /// <param name="x">Queries [B, N, D].</param>
    /// <param name="context">Keys and values [B, L, Dc].</param>
    /// <param name="contextMask">[B, L], true where a context token may be attended to; null for all.</param>
    /// <param name="rotary">Rotary positions for self-attention; null for none.</param>
    public Tensor forward(Tensor x, Tensor context, Tensor? contextMask = null, RotaryTable? rotary = null)
    {
        using var scope = NewDisposeScope();
        var (b, n, d) = (x.shape[0], x.shape[1], x.shape[2]);
        var queries = q_norm.forward(q.forward(x).view(b, n, _heads, -1)).transpose(1, 2);
        var kvs = kv.forward(context).view(b, context.shape[1], 2, _heads, -1).permute(2, 0, 3, 1, 4);
        var keys = k_norm.forward(kvs[0]);
        var values = kvs[1];
        if (rotary is not null)
        {
            queries = rotary.Apply(queries.contiguous());
            keys = rotary.Apply(keys.contiguous());
        }
        var mask = contextMask?[.., TensorIndex.None, TensorIndex.None, ..];
        return proj.forward(Attend(queries, keys, values, mask).transpose(1, 2).reshape(b, n, d)).MoveToOuterDisposeScope();
    }

    /// <summary>Attention matrices up to this many entries per head are computed explicitly; larger ones by SDPA.</summary>
    public const long ExplicitAttentionLimit = 1024 * 1024;

    /// <summary>
    /// softmax(QKᵀ/√d)·V. libtorch's CPU SDPA kernel is slow on short sequences (measured here at 180 tokens, forward
    /// and backward: 3.4× slower than the explicit product in bfloat16, 1.3× in float32; 12× for cross-attention to
    /// a short caption), so small matrices are multiplied out, softmax in float32; large ones keep SDPA's memory bound.
    /// The choice depends on shapes only, so a given request always takes the same path.
    /// </summary>
    public static Tensor Attend(Tensor queries, Tensor keys, Tensor values, Tensor? mask)
    {
        if (queries.shape[2] * keys.shape[2] > ExplicitAttentionLimit)
            return nn.functional.scaled_dot_product_attention(queries, keys, values, mask);
        using var scope = NewDisposeScope();
        var scores = matmul(queries, keys.transpose(-2, -1)).to(ScalarType.Float32) * (1.0 / Math.Sqrt(queries.shape[^1]));
        if (mask is not null) scores = scores.masked_fill(mask.logical_not(), float.NegativeInfinity);
        return matmul(nn.functional.softmax(scores, -1).to(values.dtype), values).MoveToOuterDisposeScope();
    }
}
