using Reel.Model;

namespace Reel.Requests;

/// <summary>
/// The one rule for the frame size a request gets, from the CLI and from the HTTP API alike. A size the model was
/// trained at is made as asked. The OpenAI SDK's standard sizes (1280x720, …) become the trained size nearest their
/// aspect ratio — what a client written for Sora means — and the choice says so. Any other size is just another latent
/// grid and is made as asked up to <see cref="MaxPixelsOverTrained"/>× the pixels of the largest trained size; a
/// larger one is refused with what would work, rather than run for many minutes into something the model never saw —
/// unless asked for explicitly (<paramref name="anySize"/> of <see cref="Choose"/>, <c>reel generate --any-size</c>).
/// </summary>
public static class SizeRule
{
    public const int MaxPixelsOverTrained = 4;

    public static readonly IReadOnlyList<VideoSize> StandardSizes = [new(720, 1280), new(1280, 720), new(1024, 1792), new(1792, 1024)];

    /// <summary>The size made and, when it is not what was asked or not a trained size, a line saying so.</summary>
    public sealed record Choice(VideoSize Size, string? Note);

    /// <summary>Throws <see cref="ModelException"/> for a size the model cannot make, naming the sizes it can.</summary>
    public static Choice Choose(string model, IReadOnlyList<VideoSize> trained, int multiple, VideoSize asked, bool anySize = false)
    {
        if (trained.Contains(asked)) return new Choice(asked, null);
        var listed = string.Join(", ", trained);
        if (StandardSizes.Contains(asked))
        {
            var nearest = Nearest(trained, asked);
            return new Choice(nearest, $"{asked} is more than model '{model}' was trained for: making {nearest}, its trained size nearest that shape ({listed}).");
        }
        if (asked.Width <= 0 || asked.Height <= 0) throw new ModelException($"Size {asked} must be positive in both dimensions.");
        if (asked.Width % multiple != 0 || asked.Height % multiple != 0)
            throw new ModelException($"Size {asked} is not a multiple of {multiple} in both dimensions for model '{model}' (trained at {listed}).");
        var limit = MaxPixelsOverTrained * trained.Max(s => (long)s.Width * s.Height);
        if ((long)asked.Width * asked.Height > limit && !anySize)
            throw new ModelException($"Size {asked} is more than model '{model}' can make well: at most {limit} pixels " +
                $"({MaxPixelsOverTrained}× its largest trained size), or one of its trained sizes {listed} (--any-size makes it anyway, slowly).");
        return new Choice(asked, $"{asked} is not a size model '{model}' was trained at ({listed}): expect less than its usual quality.");
    }

    /// <summary>The trained size whose aspect ratio is nearest <paramref name="shape"/>'s (the first of equals).</summary>
    public static VideoSize Nearest(IReadOnlyList<VideoSize> trained, VideoSize shape)
    {
        var aspect = Math.Log((double)shape.Width / shape.Height);
        return trained.MinBy(s => Math.Abs(Math.Log((double)s.Width / s.Height) - aspect));
    }
}
