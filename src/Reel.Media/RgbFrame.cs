namespace Reel.Media;

/// <summary>One frame of 8-bit RGB pixels, row-major, 3 bytes per pixel.</summary>
public sealed record RgbFrame(int Width, int Height, byte[] Pixels)
{
    public static RgbFrame Black(int width, int height) => new(width, height, new byte[width * height * 3]);

    /// <summary>
    /// A grid of frames: <paramref name="columns"/> per row (default <c>ceil(√n)</c>), rows as needed, row-major, unused cells black.
    /// </summary>
    public static RgbFrame Grid(IReadOnlyList<RgbFrame> frames, int? columns = null)
    {
        if (frames.Count == 0) throw new ArgumentException("A grid needs at least one frame.", nameof(frames));
        var (w, h) = (frames[0].Width, frames[0].Height);
        var perRow = columns ?? (int)Math.Ceiling(Math.Sqrt(frames.Count));
        var rows = (frames.Count + perRow - 1) / perRow;
        var sheet = Black(w * perRow, h * rows);
        for (var i = 0; i < frames.Count; i++)
        {
            var (x0, y0) = (i % perRow * w, i / perRow * h);
            for (var y = 0; y < h; y++)
                Array.Copy(frames[i].Pixels, y * w * 3, sheet.Pixels, ((y0 + y) * sheet.Width + x0) * 3, w * 3);
        }
        return sheet;
    }

    /// <summary>Indices of <paramref name="count"/> evenly spaced frames of <paramref name="total"/>, first and last included.</summary>
    public static int[] EvenlySpaced(int total, int count)
    {
        count = Math.Min(count, total);
        return count == 1 ? [0] : Enumerable.Range(0, count).Select(i => (int)Math.Round(i * (total - 1.0) / (count - 1))).ToArray();
    }
}
