namespace Reel.World;

/// <summary>
/// Percentages for one clip against what was asked (null where a metric does not apply). Join jump: the position jump
/// at chunk boundaries over the median frame-to-frame change inside chunks (1 = as smooth as inside a chunk). Latent
/// jump: the same at the first frame of every latent frame's group of pixel frames, against the frames inside groups —
/// whether the DiT's latent frames agree with each other.
/// </summary>
public sealed record ClipScores(double Colour, double Shape, double Count, double Motion, double Presence, double? Permanence, double? JoinJump,
    double? LatentJump = null);

/// <summary>Reads a tracked clip against the expected objects: matching, motion classes and every metric.</summary>
public static class ClipEvaluation
{
    public static ClipScores Score(TrackedClip clip, SceneSpec expected, int frameRate, IReadOnlyList<int> chunkBoundaries,
        IReadOnlyList<int>? latentBoundaries = null)
    {
        var objects = expected.Objects;
        var match = Match(clip.Tracks, objects);
        double Percent(Func<ObjectSpec, Track, bool> correct) =>
            100.0 * objects.Select((o, i) => match[i] is { } t && correct(o, t) ? 1 : 0).Sum() / objects.Count;
        var colour = Percent((o, t) => o.Colour is null || o.Colour == t.Colour);
        var shape = Percent((o, t) => o.Shape is null || o.Shape == t.Shape);
        var motion = Percent((o, t) => o.Motion is null || o.Motion == ClassifyMotion(t, clip, frameRate));
        var presence = objects.Select((_, i) => match[i] is { } t ? Presence(t, clip) : 0).Average() * 100;
        var events = match.OfType<Track>().SelectMany(t => Occlusions(t, clip)).ToArray();
        double? permanence = events.Length == 0 ? null : 100.0 * events.Count(e => e) / events.Length;
        return new ClipScores(colour, shape, clip.Tracks.Count == objects.Count ? 100 : 0, motion, presence, permanence,
            JoinJump(clip.Tracks, chunkBoundaries), JoinJump(clip.Tracks, latentBoundaries ?? []));
    }

    /// <summary>The assignment of tracks to expected objects that best agrees on colour, then shape.</summary>
    public static Track?[] Match(IReadOnlyList<Track> tracks, IReadOnlyList<ObjectSpec> objects)
    {
        var best = new Track?[objects.Count];
        var bestScore = -1.0;
        void Search(int i, Track?[] chosen, double score)
        {
            if (i == objects.Count)
            {
                if (score > bestScore) (bestScore, best) = (score, (Track?[])chosen.Clone());
                return;
            }
            foreach (var track in tracks.Where(t => !chosen.Contains(t)).Append(null))
            {
                chosen[i] = track;
                var gain = track is null ? 0 : 1 + (objects[i].Colour == track.Colour ? 2 : 0) + (objects[i].Shape == track.Shape ? 1 : 0);
                Search(i + 1, chosen, score + gain);
            }
            chosen[i] = null;
        }
        Search(0, new Track?[objects.Count], 0);
        return best;
    }

    /// <summary>
    /// Still if nearly every view stays within 4% of the frame of its usual place. Falling or thrown if the vertical path
    /// up to the first floor bounce is a parabola bending downward at about gravity's rate (a throw starts upward).
    /// Otherwise a slide, in the direction each axis first moves, counted when its speed is a fair share of the whole.
    /// </summary>
    public static Motion? ClassifyMotion(Track track, TrackedClip clip, int frameRate)
    {
        // Views partly hidden (by the pillar, another object) have their centre pulled aside: keep the nearly whole ones.
        var seen = track.Detections.OfType<Detection>().ToArray();
        if (seen.Length < 3) return null;
        var typicalArea = Median(seen.Select(d => (double)d.Area));
        var points = seen.Where(d => d.Area >= 0.85 * typicalArea).ToArray();
        if (points.Length < 3) return null;
        var side = Math.Min(clip.Width, clip.Height);
        var (mx, my) = (Median(points.Select(p => p.X)), Median(points.Select(p => p.Y)));
        if (points.Count(p => Math.Sqrt(Math.Pow(p.X - mx, 2) + Math.Pow(p.Y - my, 2)) < 0.04 * side) >= 0.85 * points.Length) return Motion.Rests;

        var gravity = Physics.Gravity * clip.Height / (frameRate * (double)frameRate); // px per frame²
        var fall = points[..UntilFloorBounce(points)];
        if (fall.Length >= 4)
        {
            var (curvature, residual) = Parabola(fall);
            var (xRange, yRange) = (fall.Max(p => p.X) - fall.Min(p => p.X), fall.Max(p => p.Y) - fall.Min(p => p.Y));
            if (xRange < 0.35 * yRange && curvature > 0.5 * gravity && curvature < 1.6 * gravity && residual < Math.Max(0.5, 0.05 * yRange))
                return fall[1].Y < fall[0].Y ? Motion.Thrown : Motion.Falls;
        }
        // A slide is judged on its first unbroken run of views: a bounce may happen unseen in a gap.
        var run = FirstRun(points);
        var (h, vx) = FirstMove(run.Select(p => p.X).ToArray(), run.Select(p => p.Frame).ToArray());
        var (v, vy) = FirstMove(run.Select(p => p.Y).ToArray(), run.Select(p => p.Frame).ToArray());
        var speed = Math.Sqrt(vx * vx + vy * vy);
        if (speed < 0.01 * side) return Motion.Rests;
        (h, v) = (vx > 0.38 * speed ? h : 0, vy > 0.38 * speed ? v : 0);
        return Slides.FromSigns(h, v);
    }

    /// <summary>The first views with no gap of more than one frame between them, at least three when there are.</summary>
    private static Detection[] FirstRun(Detection[] points)
    {
        for (var start = 0; start < points.Length;)
        {
            var end = start + 1;
            while (end < points.Length && points[end].Frame - points[end - 1].Frame <= 2) end++;
            if (end - start >= 3) return points[start..end];
            start = end;
        }
        return points;
    }

    /// <summary>
    /// The direction an axis first moves (by more than 0.6 px) and its speed in px per frame until it turns back
    /// (by more than 0.6 px from the farthest point): a bounce off a wall.
    /// </summary>
    private static (int Sign, double Speed) FirstMove(double[] values, int[] frames)
    {
        var (direction, extreme, at) = (0, values[0], 0);
        for (var i = 1; i < values.Length; i++)
        {
            if (direction == 0)
            {
                if (Math.Abs(values[i] - values[0]) >= 0.6) (direction, extreme, at) = (Math.Sign(values[i] - values[0]), values[i], i);
            }
            else if ((values[i] - extreme) * direction > 0) (extreme, at) = (values[i], i);
            else if ((extreme - values[i]) * direction >= 0.6) break;
        }
        return direction == 0 ? (0, 0) : (direction, Math.Abs(extreme - values[0]) / (frames[at] - frames[0]));
    }

    /// <summary>
    /// How many views come before the first floor bounce: a view reached moving down and left moving up. That view
    /// itself is left out: the bounce happened somewhere in the frame before it, so it is off the parabola.
    /// </summary>
    private static int UntilFloorBounce(Detection[] points)
    {
        for (var i = 1; i + 1 < points.Length; i++)
            if (points[i].Y - points[i - 1].Y > 0.3 && points[i + 1].Y - points[i].Y < -0.6) return i;
        return points.Length;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>A least-squares parabola y(t) = a + b·t + c·t² through the views: 2c (px per frame²) and the RMS residual.</summary>
    private static (double Curvature, double Residual) Parabola(Detection[] points)
    {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, y0 = 0, y1 = 0, y2 = 0;
        foreach (var p in points)
        {
            double t = p.Frame, t2 = t * t;
            (s0, s1, s2, s3, s4) = (s0 + 1, s1 + t, s2 + t2, s3 + t2 * t, s4 + t2 * t2);
            (y0, y1, y2) = (y0 + p.Y, y1 + p.Y * t, y2 + p.Y * t2);
        }
        double[,] m = { { s0, s1, s2 }, { s1, s2, s3 }, { s2, s3, s4 } };
        var det = Det(m);
        if (Math.Abs(det) < 1e-9) return (0, double.MaxValue);
        // Cramer's rule, one column at a time.
        double Solve(int column)
        {
            var k = (double[,])m.Clone();
            (k[0, column], k[1, column], k[2, column]) = (y0, y1, y2);
            return Det(k) / det;
        }
        var (a, b, c) = (Solve(0), Solve(1), Solve(2));
        var residual = Math.Sqrt(points.Average(p => Math.Pow(a + b * p.Frame + c * p.Frame * p.Frame - p.Y, 2)));
        return (2 * c, residual);
    }

    private static double Det(double[,] m) =>
        m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1]) - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0]) + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]);

    /// <summary>Frames seen over frames where it could be seen: frames unseen behind the pillar are excused.</summary>
    private static double Presence(Track track, TrackedClip clip)
    {
        var frames = track.Detections.Length;
        var excused = Enumerable.Range(0, frames).Count(f => track.Detections[f] is null && BehindPillar(track, f, clip));
        return frames == excused ? 1 : (double)track.Seen / (frames - excused);
    }

    /// <summary>Where it would be in frame f, between the views before and after; true if that is behind the pillar.</summary>
    private static bool BehindPillar(Track track, int f, TrackedClip clip)
    {
        if (clip.Pillar is not { } pillar) return false;
        var before = track.Detections.Take(f).LastOrDefault(d => d is not null);
        var after = track.Detections.Skip(f + 1).FirstOrDefault(d => d is not null);
        var near = new[] { before, after }.OfType<Detection>().ToArray();
        if (near.Length == 0) return false;
        var margin = 0.15 * Math.Min(clip.Width, clip.Height);
        var x = near.Length == 2 ? near[0].X + (near[1].X - near[0].X) * (f - near[0].Frame) / (near[1].Frame - near[0].Frame) : near[0].X;
        return x >= pillar.Left - margin && x <= pillar.Right + margin;
    }

    /// <summary>Each disappearance beside the pillar with time left in the clip: true if it came out again.</summary>
    private static IEnumerable<bool> Occlusions(Track track, TrackedClip clip)
    {
        var d = track.Detections;
        for (var f = 1; f < d.Length; f++)
        {
            if (d[f] is not null || d[f - 1] is null || !BehindPillar(track, f, clip) && !NearPillar(d[f - 1]!, clip)) continue;
            if (f + 6 >= d.Length) yield break; // still behind it when the clip ends: not an event
            yield return d.Skip(f).Any(x => x is not null);
        }
    }

    private static bool NearPillar(Detection d, TrackedClip clip) =>
        clip.Pillar is { } p && d.X >= p.Left - 0.2 * clip.Width && d.X <= p.Right + 0.2 * clip.Width;

    private static double? JoinJump(IReadOnlyList<Track> tracks, IReadOnlyList<int> boundaries)
    {
        if (boundaries.Count == 0) return null;
        var inside = new List<double>();
        var across = new List<double>();
        foreach (var track in tracks)
            for (var f = 1; f < track.Detections.Length; f++)
                if (track.Detections[f] is { } b && track.Detections[f - 1] is { } a)
                    (boundaries.Contains(f) ? across : inside).Add(Math.Sqrt(Math.Pow(b.X - a.X, 2) + Math.Pow(b.Y - a.Y, 2)));
        if (across.Count == 0 || inside.Count == 0) return null;
        var typical = Math.Max(inside.Order().ElementAt(inside.Count / 2), 0.5);
        return across.Average() / typical;
    }
}
