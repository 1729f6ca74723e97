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

public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2;

    public FeedForward(long width, double ratio) : base(nameof(FeedForward))
    {
        fc1 = nn.Linear(width, (long)(width * ratio));
        fc2 = nn.Linear((long)(width * ratio), width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(nn.functional.gelu(fc1.forward(x), GELU.Approximate.tanh)).MoveToOuterDisposeScope();
    }
}

/// <summary>Rotary position tables: cos and sin of shape [N, headDim], each angle repeated for its pair of channels.</summary>
public sealed record RotaryTable(Tensor Cos, Tensor Sin) : IDisposable
{
    /// <summary>
    /// 3D rotary positions over a (T, H, W) token grid, row-major like the token order. The head splits into
    /// three even-sized parts for t, h and w, so any grid — any size, aspect ratio, length, one frame — is valid.
    /// </summary>
    public static RotaryTable ForGrid(long frames, long height, long width, long headDim, Device device)
    {
        using var scope = NewDisposeScope();
        var spatialDims = 2 * (headDim / 6);
        var timeDims = headDim - 2 * spatialDims;
        Tensor Angles(long count, long dims) =>
            outer(arange(count, float32, device), pow(10000.0, -arange(0, dims, 2, float32, device) / dims));
        var t = Angles(frames, timeDims)[.., TensorIndex.None, TensorIndex.None, ..].expand(frames, height, width, -1);
        var h = Angles(height, spatialDims)[TensorIndex.None, .., TensorIndex.None, ..].expand(frames, height, width, -1);
        var w = Angles(width, spatialDims)[TensorIndex.None, TensorIndex.None, .., ..].expand(frames, height, width, -1);
        var angles = cat([t, h, w], -1).reshape(frames * height * width, headDim / 2).repeat_interleave(2, dim: 1);
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
    private readonly Linear q, kv, proj;
    private readonly Float32LayerNorm q_norm, k_norm;
    private readonly long _heads;

    public MultiHeadAttention(long width, long heads, long contextWidth) : base(nameof(MultiHeadAttention))
    {
        _heads = heads;
        q = nn.Linear(width, width);
        kv = nn.Linear(contextWidth, 2 * width);
        proj = nn.Linear(width, width);
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
        var attended = nn.functional.scaled_dot_product_attention(queries, keys, values, mask);
        return proj.forward(attended.transpose(1, 2).reshape(b, n, d)).MoveToOuterDisposeScope();
    }
}
