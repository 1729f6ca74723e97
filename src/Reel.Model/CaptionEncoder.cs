using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>Caption tokens for the DiT's cross-attention: [B, L, width] and a mask [B, L] of real tokens.</summary>
public sealed record CaptionTokens(Tensor Tokens, Tensor Mask) : IDisposable
{
    public void Dispose()
    {
        Tokens.Dispose();
        Mask.Dispose();
    }
}

/// <summary>Turns captions into token embeddings. The DiT sees only this interface, so the encoder can be swapped.</summary>
public interface ICaptionEncoder
{
    long Width { get; }
    CaptionTokens Encode(IReadOnlyList<string> captions);
}

/// <summary>
/// Lower-cased words and numbers, each one token. Id 0 pads, 1 begins every caption (so the empty caption,
/// used for guidance, still has a token to attend to), 2 stands for words not in the vocabulary.
/// </summary>
public sealed partial class CaptionTokenizer(IReadOnlyList<string> vocabulary, int maxTokens)
{
    public const int Pad = 0, Begin = 1, Unknown = 2, Reserved = 3;

    private readonly Dictionary<string, long> _ids = vocabulary.Select((word, i) => (word, id: (long)(i + Reserved)))
        .ToDictionary(p => p.word, p => p.id);

    public int VocabularySize => vocabulary.Count + Reserved;

    public long[] Tokenize(string caption) =>
        Words().Matches(caption.ToLowerInvariant()).Select(m => _ids.GetValueOrDefault(m.Value, Unknown))
            .Prepend(Begin).Take(maxTokens).ToArray();

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Words();
}

public sealed class CaptionEncoderLayer : nn.Module
{
    private readonly Float32LayerNorm norm1, norm2;
    private readonly MultiHeadAttention attn;
    private readonly FeedForward mlp;

    public CaptionEncoderLayer(long width, long heads) : base(nameof(CaptionEncoderLayer))
    {
        norm1 = new Float32LayerNorm(width, affine: true);
        attn = new MultiHeadAttention(width, heads, width);
        norm2 = new Float32LayerNorm(width, affine: true);
        mlp = new FeedForward(width, 4.0);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var h = norm1.forward(x);
        x = x + attn.forward(h, h, mask);
        return (x + mlp.forward(norm2.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>A small pre-norm transformer over caption words with learned positions, trained together with the DiT.</summary>
public sealed class CaptionEncoder : nn.Module, ICaptionEncoder
{
    private readonly Embedding token_embedding, position_embedding;
    private readonly ModuleList<CaptionEncoderLayer> layers = new();
    private readonly Float32LayerNorm norm_out;
    private readonly CaptionTokenizer _tokenizer;

    public CaptionEncoder(ModelConfig config, IReadOnlyList<string> vocabulary) : base(nameof(CaptionEncoder))
    {
        _tokenizer = new CaptionTokenizer(vocabulary, config.MaxCaptionTokens);
        Width = config.CaptionWidth;
        token_embedding = nn.Embedding(_tokenizer.VocabularySize, Width);
        position_embedding = nn.Embedding(config.MaxCaptionTokens, Width);
        for (var i = 0; i < config.CaptionDepth; i++) layers.Add(new CaptionEncoderLayer(Width, config.CaptionHeads));
        norm_out = new Float32LayerNorm(Width, affine: true);
        RegisterComponents();
        using var noGrad = no_grad();
        nn.init.normal_(token_embedding.weight!, std: 0.02);
        nn.init.normal_(position_embedding.weight!, std: 0.02);
    }

    public long Width { get; }

    public CaptionTokens Encode(IReadOnlyList<string> captions)
    {
        var device = token_embedding.weight!.device;
        var ids = captions.Select(_tokenizer.Tokenize).ToArray();
        var length = ids.Max(t => t.Length);
        var padded = new long[ids.Length * length];
        for (var i = 0; i < ids.Length; i++) ids[i].CopyTo(padded, i * length);
        using var scope = NewDisposeScope();
        var tokenIds = tensor(padded, [ids.Length, length], device: device);
        var mask = tokenIds.ne(CaptionTokenizer.Pad);
        var x = token_embedding.forward(tokenIds) + position_embedding.forward(arange(length, device: device)).unsqueeze(0);
        foreach (var layer in layers) x = layer.forward(x, mask);
        return new CaptionTokens(norm_out.forward(x).to(ScalarType.Float32).MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }
}
