namespace Reel.World;

/// <summary>A short prompt made into a detailed caption of the training distribution, and what went into it.</summary>
public sealed record ExpandedPrompt(string Prompt, string Caption, SceneSpec Spec, IReadOnlyList<string> UnknownWords);

/// <summary>
/// The seed's prompt expansion: parse what the prompt says, fill every open attribute from seeded choices (distinct
/// colours, any shape, size and motion, no pillar unless asked for), and describe the result as the captioner would.
/// Unknown words are reported, never fatal.
/// </summary>
public static class PromptExpander
{
    /// <summary>The expansion's seed for a request seed, so the same request always expands the same way.</summary>
    public static ulong SeedFor(ulong requestSeed) => requestSeed ^ 0x6A09E667F3BCC909UL;

    public static ExpandedPrompt Expand(string prompt, ulong seed)
    {
        var parsed = CaptionParser.Parse(prompt);
        var objects = parsed.Spec.Objects.Count == 0 ? [new ObjectSpec()] : parsed.Spec.Objects.Take(ProceduralWorld.MaxObjects).ToArray();
        var random = new WorldRandom(seed);
        var spec = ProceduralWorld.Complete(new SceneSpec(objects, parsed.Spec.Occluder), random);
        return new ExpandedPrompt(prompt, Captioner.Describe(spec, random), spec, parsed.UnknownWords);
    }
}
