using Reel.Media;

namespace Reel.World;

/// <summary>
/// Draws a scene: background, objects in order with anti-aliased edges (coverage from each shape's signed distance),
/// then the pillar over them. Every pixel wholly inside an object and not covered later has exactly its colour.
/// </summary>
public static class Renderer
{
    public static IReadOnlyList<RgbFrame> Render(Scene scene, ObjectState[][] states)
    {
        var frames = new RgbFrame[scene.Frames];
        for (var f = 0; f < scene.Frames; f++) frames[f] = RenderFrame(scene, states[f]);
        return frames;
    }

    private static RgbFrame RenderFrame(Scene scene, ObjectState[] states)
    {
        var (w, h) = (scene.Width, scene.Height);
        var r = new float[w * h];
        var g = new float[w * h];
        var b = new float[w * h];
        Array.Fill(r, scene.Background.R);
        Array.Fill(g, scene.Background.G);
        Array.Fill(b, scene.Background.B);
        for (var i = 0; i < states.Length; i++)
        {
            var o = scene.Objects[i];
            var s = states[i];
            var (cr, cg, cb) = WorldPalette.Rgb(o.Colour);
            var reach = s.Radius * 1.6 + 1;
            for (var y = Math.Max(0, (int)(s.Y - reach)); y < Math.Min(h, (int)(s.Y + reach) + 1); y++)
                for (var x = Math.Max(0, (int)(s.X - reach)); x < Math.Min(w, (int)(s.X + reach) + 1); x++)
                {
                    // Pixel centres at +0.5; a one-pixel ramp across the edge.
                    var coverage = Math.Clamp(0.5 - Distance(o.Shape, x + 0.5 - s.X, y + 0.5 - s.Y, s.Radius), 0, 1);
                    if (coverage <= 0) continue;
                    var k = y * w + x;
                    r[k] += (float)((cr - r[k]) * coverage);
                    g[k] += (float)((cg - g[k]) * coverage);
                    b[k] += (float)((cb - b[k]) * coverage);
                }
        }
        var pixels = new byte[w * h * 3];
        for (var k = 0; k < w * h; k++)
            (pixels[3 * k], pixels[3 * k + 1], pixels[3 * k + 2]) = ((byte)MathF.Round(r[k]), (byte)MathF.Round(g[k]), (byte)MathF.Round(b[k]));
        if (scene.Occluder is { } pillar)
        {
            var (pr, pg, pb) = WorldPalette.Pillar;
            var (left, right) = ((int)Math.Round(pillar.Left), (int)Math.Round(pillar.Right));
            for (var y = 0; y < h; y++)
                for (var x = Math.Max(0, left); x < Math.Min(w, right); x++)
                    (pixels[3 * (y * w + x)], pixels[3 * (y * w + x) + 1], pixels[3 * (y * w + x) + 2]) = (pr, pg, pb);
        }
        return new RgbFrame(w, h, pixels);
    }

    /// <summary>
    /// Signed distance from a point (relative to the centre) to the shape's edge; negative inside. Square and triangle
    /// have the disc's area, so sizes compare fairly.
    /// </summary>
    public static double Distance(Shape shape, double dx, double dy, double radius)
    {
        switch (shape)
        {
            case Shape.Disc:
                return Math.Sqrt(dx * dx + dy * dy) - radius;
            case Shape.Square:
            {
                var half = radius * Math.Sqrt(Math.PI) / 2;
                var (qx, qy) = (Math.Abs(dx) - half, Math.Abs(dy) - half);
                return Math.Sqrt(Math.Pow(Math.Max(qx, 0), 2) + Math.Pow(Math.Max(qy, 0), 2)) + Math.Min(Math.Max(qx, qy), 0);
            }
            default:
            {
                // Equilateral, pointing up, centred on its centroid: the max of the distances to its three edge lines.
                var side = radius * Math.Sqrt(4 * Math.PI / Math.Sqrt(3));
                var inradius = side / (2 * Math.Sqrt(3));
                var d1 = dy - inradius;
                var d2 = -0.5 * dy + Math.Sqrt(3) / 2 * dx - inradius;
                var d3 = -0.5 * dy - Math.Sqrt(3) / 2 * dx - inradius;
                return Math.Max(d1, Math.Max(d2, d3));
            }
        }
    }
}
