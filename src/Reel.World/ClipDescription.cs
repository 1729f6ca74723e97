using Reel.Media;

namespace Reel.World;

/// <summary>
/// What given frames show, as the prompt expander takes it: each object the tracker follows (its colour, shape, size,
/// and its motion where there are frames enough to see one), and whether the pillar stands in them. The most-seen
/// objects first, at most <see cref="ProceduralWorld.MaxObjects"/>.
/// </summary>
public static class ClipDescription
{
    /// <summary>Fewer frames than this show where an object is, not where it goes.</summary>
    public const int MotionFrames = 5;

    public static SceneSpec Of(IReadOnlyList<RgbFrame> frames, int frameRate)
    {
        var clip = Tracker.Track(frames);
        var objects = clip.Tracks.OrderByDescending(t => t.Seen).Take(ProceduralWorld.MaxObjects)
            .Select(t => new ObjectSpec(t.Shape, t.Colour, SizeOf(t, clip),
                frames.Count >= MotionFrames ? ClipEvaluation.ClassifyMotion(t, clip, frameRate) : null))
            .ToArray();
        return new SceneSpec(objects, clip.Pillar is not null);
    }

    /// <summary>Every shape of a size covers about π r²: small or large by the geometric mean of the two areas.</summary>
    private static ObjectSize SizeOf(Track track, TrackedClip clip)
    {
        var areas = track.FormViews.Select(d => d.Area).Order().ToArray();
        var side = Math.Min(clip.Width, clip.Height);
        var threshold = Math.PI * WorldPalette.Radius(ObjectSize.Small, side) * WorldPalette.Radius(ObjectSize.Large, side);
        return areas[areas.Length / 2] >= threshold ? ObjectSize.Large : ObjectSize.Small;
    }
}
