using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>
/// A chunk being denoised: its sampler, its caption and its guidance. Chunks whose latents have the same shape can
/// take their next step together in one DiT pass (<see cref="StepTogether"/>), both halves of classifier-free guidance
/// included; a chunk comes out the same bits whether it stepped alone or with any companions, because every row of
/// the pass is computed independently of the others (<see cref="CastingLinear.MinRows"/>, captions padded to one length).
/// </summary>
public sealed class ChunkSampling : IDisposable
{
    private readonly FlowSampling _flow;
    private readonly CaptionTokens _caption, _unconditional;
    private readonly double _guidance;

    internal ChunkSampling(ChunkSpan chunk, FlowSampling flow, CaptionTokens caption, CaptionTokens unconditional, double guidance)
    {
        (Chunk, _flow, _caption, _unconditional, _guidance) = (chunk, flow, caption, unconditional, guidance);
        Shape = string.Join('x', flow.Shape);
    }

    public ChunkSpan Chunk { get; }

    /// <summary>The latent shape, the key of the chunks it can step with.</summary>
    public string Shape { get; }

    public int Step => _flow.Step;
    public int Steps => _flow.Steps;
    public bool Done => _flow.Done;

    /// <summary>DiT rows this chunk's step takes: two with guidance (caption and empty caption), one without.</summary>
    public int Rows => Guided ? 2 : 1;

    private bool Guided => _guidance != 1.0;

    /// <summary>The chunk's latents [1, C, T, H, W] once <see cref="Done"/>; the caller owns them.</summary>
    public Tensor Result() => _flow.Result();

    /// <summary>
    /// One velocity evaluation of every chunk in one DiT pass (all of the same <see cref="Shape"/>); returns which of them
    /// finished a step (Heun's first evaluation does not). Captions are padded to <paramref name="captionTokens"/>, the
    /// model's longest, whatever the companions: a caption's padding never depends on the batch.
    /// </summary>
    public static bool[] StepTogether(DiffusionTransformer dit, int captionTokens, IReadOnlyList<ChunkSampling> chunks)
    {
        if (chunks.Select(c => c.Shape).Distinct().Count() != 1) throw new ArgumentException("Chunks stepped together need one latent shape.", nameof(chunks));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var queries = chunks.Select(c => c._flow.Query).ToArray();
        var rows = chunks.SelectMany((c, i) => c.Guided ? [(c, i, c._caption), (c, i, c._unconditional)] : new[] { (c, i, c._caption) }).ToArray();
        var x = cat(rows.Select(r => queries[r.i].X).ToArray(), 0);
        var t = cat(rows.Select(r => queries[r.i].FrameTimesteps).ToArray(), 0);
        var tokens = cat(rows.Select(r => PadTo(r.Item3.Tokens, captionTokens)).ToArray(), 0);
        var masks = cat(rows.Select(r => PadTo(r.Item3.Mask, captionTokens)).ToArray(), 0);
        var v = dit.forward(x, t, tokens, masks);
        var stepped = new bool[chunks.Count];
        var row = 0;
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            // v = v(∅) + g·(v(caption) − v(∅))
            var velocity = chunk.Guided ? v[row + 1] + chunk._guidance * (v[row] - v[row + 1]) : v[row];
            row += chunk.Rows;
            stepped[i] = chunk._flow.Accept(velocity.unsqueeze(0));
        }
        return stepped;
    }

    private static Tensor PadTo(Tensor t, long length)
    {
        if (t.shape[1] > length) throw new ModelException($"A caption of {t.shape[1]} tokens is longer than the model's {length}.");
        return t.shape[1] == length ? t : nn.functional.pad(t, t.dim() == 3 ? [0, 0, 0, length - t.shape[1]] : [0, length - t.shape[1]]);
    }

    public void Dispose()
    {
        _flow.Dispose();
        _caption.Dispose();
        _unconditional.Dispose();
    }
}
