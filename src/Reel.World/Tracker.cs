using Reel.Media;

namespace Reel.World;

/// <summary>
/// One object's blob in one frame. <see cref="AtEdge"/>: it touches the frame's edge; <see cref="AtPillar"/>: it
/// touches the pillar, so part of it may be hidden and its centre is off.
/// </summary>
public sealed record Detection(int Frame, Colour Colour, double X, double Y, int Area, double Fill, bool AtEdge, bool AtPillar)
{
    public bool Whole => !AtEdge && !AtPillar;
}

/// <summary>One object followed through a clip; <see cref="Detections"/> has null where it was not seen.</summary>
public sealed record Track(Colour Colour, Detection?[] Detections)
{
    /// <summary>The views its form is judged by: the whole ones, or every one if it was never seen whole.</summary>
    public Detection[] FormViews
    {
        get
        {
            var seen = Detections.OfType<Detection>().ToArray();
            var whole = seen.Where(d => d.Whole).ToArray();
            return whole.Length > 0 ? whole : seen;
        }
    }

    /// <summary>Shape by the bounding-box fill of its whole views: a square fills it, a disc π/4, a triangle half.</summary>
    public Shape Shape =>
        FormViews.Select(d => d.Fill >= 0.89 ? Shape.Square : d.Fill >= 0.63 ? Shape.Disc : Shape.Triangle)
            .GroupBy(s => s).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;

    public int Seen => Detections.Count(d => d is not null);
}

/// <summary>What the tracker read in a clip: the pillar's columns (if any) and the tracks.</summary>
public sealed record TrackedClip(int Width, int Height, (int Left, int Right)? Pillar, IReadOnlyList<Track> Tracks);

/// <summary>
/// A classical tracker: each pixel is explained as the background blended toward one palette colour (the blend is
/// how anti-aliasing looks); pixels more than half one colour are segmented into 4-connected components per colour;
/// components are linked through time by nearest position, across gaps (an object behind the pillar keeps its track).
/// </summary>
public static class Tracker
{
    private const int PillarLabel = -2, Unlabelled = -1;

    public static TrackedClip Track(IReadOnlyList<RgbFrame> frames)
    {
        var (w, h) = (frames[0].Width, frames[0].Height);
        var side = Math.Min(w, h);
        var minArea = Math.Max(3, (int)(0.3 * Math.PI * Math.Pow(WorldPalette.Radius(ObjectSize.Small, side), 2)));
        var labels = frames.Select(Label).ToArray();
        var pillar = FindPillar(labels, w, h);
        var tracks = new List<(Colour Colour, Detection?[] Detections, double X, double Y, int Last)>();
        for (var f = 0; f < frames.Count; f++)
        {
            foreach (var detection in Components(labels[f], f, w, h, minArea, pillar).OrderByDescending(d => d.Area))
            {
                // The nearest track of the same colour not yet seen in this frame, within reach for the time it was unseen.
                var best = -1;
                var bestDistance = double.MaxValue;
                for (var t = 0; t < tracks.Count; t++)
                {
                    var track = tracks[t];
                    if (track.Colour != detection.Colour || track.Detections[f] is not null) continue;
                    var distance = Math.Sqrt(Math.Pow(track.X - detection.X, 2) + Math.Pow(track.Y - detection.Y, 2));
                    var reach = side * (0.2 + 0.12 * (f - track.Last));
                    if (distance < reach && distance < bestDistance) (best, bestDistance) = (t, distance);
                }
                if (best < 0)
                {
                    tracks.Add((detection.Colour, new Detection?[frames.Count], detection.X, detection.Y, f));
                    best = tracks.Count - 1;
                }
                tracks[best].Detections[f] = detection;
                tracks[best] = tracks[best] with { X = detection.X, Y = detection.Y, Last = f };
            }
        }
        // Fleeting blobs (noise, a split-off edge) are not objects; in a single image every blob is all there is.
        var kept = tracks.Where(t => t.Detections.Count(d => d is not null) >= Math.Min(frames.Count, Math.Max(2, frames.Count / 5)))
            .Select(t => new Track(t.Colour, t.Detections)).ToList();
        return new TrackedClip(w, h, pillar, kept);
    }

    /// <summary>Per pixel: the palette colour (index) it is mostly made of, the pillar, or nothing.</summary>
    private static int[] Label(RgbFrame frame)
    {
        var n = frame.Width * frame.Height;
        var p = frame.Pixels;
        // The background is plain and dark and covers most of the frame: its per-channel median.
        double Median(int channel) => Enumerable.Range(0, n).Select(k => (int)p[3 * k + channel]).Order().ElementAt(n / 2);
        var bg = (R: Median(0), G: Median(1), B: Median(2));
        var colours = Enum.GetValues<Colour>();
        var labels = new int[n];
        for (var k = 0; k < n; k++)
        {
            var (r, g, b) = (p[3 * k], p[3 * k + 1], p[3 * k + 2]);
            labels[k] = Unlabelled;
            var (pr, pg, pb) = WorldPalette.Pillar;
            if (Math.Abs(r - pr) + Math.Abs(g - pg) + Math.Abs(b - pb) < 30) { labels[k] = PillarLabel; continue; }
            var bestResidual = double.MaxValue;
            for (var c = 0; c < colours.Length; c++)
            {
                var (cr, cg, cb) = WorldPalette.Rgb(colours[c]);
                var (dr, dg, db) = (cr - bg.R, cg - bg.G, cb - bg.B);
                var amount = Math.Clamp(((r - bg.R) * dr + (g - bg.G) * dg + (b - bg.B) * db) / (dr * dr + dg * dg + db * db), 0, 1);
                var residual = Math.Sqrt(Math.Pow(r - bg.R - amount * dr, 2) + Math.Pow(g - bg.G - amount * dg, 2) + Math.Pow(b - bg.B - amount * db, 2));
                if (amount >= 0.5 && residual < 45 && residual < bestResidual) (bestResidual, labels[k]) = (residual, c);
            }
        }
        return labels;
    }

    /// <summary>Columns that are pillar-grey from top to bottom in most frames.</summary>
    private static (int Left, int Right)? FindPillar(int[][] labels, int w, int h)
    {
        var columns = Enumerable.Range(0, w).Where(x =>
            labels.Count(l => Enumerable.Range(0, h).Count(y => l[y * w + x] == PillarLabel) >= 0.6 * h) >= 0.6 * labels.Length).ToArray();
        return columns.Length >= 2 ? (columns.Min(), columns.Max() + 1) : null;
    }

    private static IEnumerable<Detection> Components(int[] labels, int frame, int w, int h, int minArea, (int Left, int Right)? pillar)
    {
        var seen = new bool[labels.Length];
        var stack = new Stack<int>();
        for (var start = 0; start < labels.Length; start++)
        {
            if (seen[start] || labels[start] < 0) continue;
            var colour = labels[start];
            var (area, sumX, sumY, minX, maxX, minY, maxY) = (0, 0.0, 0.0, w, -1, h, -1);
            stack.Push(start);
            seen[start] = true;
            while (stack.Count > 0)
            {
                var k = stack.Pop();
                var (x, y) = (k % w, k / w);
                (area, sumX, sumY) = (area + 1, sumX + x + 0.5, sumY + y + 0.5);
                (minX, maxX, minY, maxY) = (Math.Min(minX, x), Math.Max(maxX, x), Math.Min(minY, y), Math.Max(maxY, y));
                foreach (var next in new[] { x > 0 ? k - 1 : -1, x < w - 1 ? k + 1 : -1, y > 0 ? k - w : -1, y < h - 1 ? k + w : -1 })
                    if (next >= 0 && !seen[next] && labels[next] == colour)
                    {
                        seen[next] = true;
                        stack.Push(next);
                    }
            }
            if (area < minArea) continue;
            yield return new Detection(frame, (Colour)colour, sumX / area, sumY / area, area,
                (double)area / ((maxX - minX + 1) * (maxY - minY + 1)),
                AtEdge: minX == 0 || minY == 0 || maxX == w - 1 || maxY == h - 1,
                AtPillar: pillar is { } p && maxX >= p.Left - 1 && minX <= p.Right);
        }
    }
}
