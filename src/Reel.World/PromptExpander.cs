namespace Reel.World;

/// <summary>A short prompt made into a detailed caption of the training distribution, and what went into it.</summary>
public sealed record ExpandedPrompt(string Prompt, string Caption, SceneSpec Spec, IReadOnlyList<string> UnknownWords);

/// <summary>
/// The seed's prompt expansion: parse what the prompt says, take what it leaves open from what the given frames show
/// (an image, a video to extend, connect or edit), fill whatever is still open from seeded choices (distinct colours,
/// any shape, size and motion, no pillar unless asked for or shown), and describe the result as the captioner would.
/// Unknown words are reported, never fatal.
/// </summary>
public static class PromptExpander
{
    /// <summary>The expansion's seed for a request seed, so the same request always expands the same way.</summary>
    public static ulong SeedFor(ulong requestSeed) => requestSeed ^ 0x6A09E667F3BCC909UL;

    /// <param name="shown">What the request's input frames show (<see cref="ClipDescription"/>), if it has any.</param>
    public static ExpandedPrompt Expand(string prompt, ulong seed, SceneSpec? shown = null)
    {
        var parsed = CaptionParser.Parse(prompt);
        var said = parsed.Spec.Objects.Take(ProceduralWorld.MaxObjects).ToArray();
        var objects = shown is { Objects.Count: > 0 } ? Merge(said, shown.Objects) : said.Length == 0 ? [new ObjectSpec()] : said;
        var random = new WorldRandom(seed);
        var spec = ProceduralWorld.Complete(new SceneSpec(objects, parsed.Spec.Occluder ?? shown?.Occluder), random);
        return new ExpandedPrompt(prompt, Captioner.Describe(spec, random), spec, parsed.UnknownWords);
    }

    /// <summary>
    /// The shown objects with what the prompt says of each: a said object is the shown one of its colour, else of its
    /// shape, else the next one in order ("a blue ball bouncing" of a red ball's video recolours that ball). The
    /// prompt's attributes win; said objects nothing matches are added, shown ones nothing matches are kept.
    /// </summary>
    private static ObjectSpec[] Merge(IReadOnlyList<ObjectSpec> said, IReadOnlyList<ObjectSpec> shown)
    {
        var matchOf = new int?[said.Count];
        var taken = new bool[shown.Count];
        void Pair(Func<ObjectSpec, ObjectSpec, bool> same)
        {
            for (var i = 0; i < said.Count; i++)
            {
                if (matchOf[i] is not null) continue;
                var j = Enumerable.Range(0, shown.Count).FirstOrDefault(k => !taken[k] && same(said[i], shown[k]), -1);
                if (j < 0) continue;
                (matchOf[i], taken[j]) = (j, true);
            }
        }
        Pair((s, o) => s.Colour is not null && s.Colour == o.Colour);
        Pair((s, o) => s.Colour is null && s.Shape is not null && s.Shape == o.Shape);
        Pair((_, _) => true);
        var merged = shown.Select((o, j) => Array.IndexOf(matchOf, j) is var i and >= 0
            ? new ObjectSpec(said[i].Shape ?? o.Shape, said[i].Colour ?? o.Colour, said[i].Size ?? o.Size, said[i].Motion ?? o.Motion)
            : o);
        var added = said.Where((_, i) => matchOf[i] is null);
        return [.. merged.Concat(added).Take(ProceduralWorld.MaxObjects)];
    }
}
