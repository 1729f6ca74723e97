namespace Reel.World;

/// <summary>
/// Writes a descriptive caption for a scene with varied phrasing and word order (the seed's re-captioning), so the
/// model learns the attributes, not one template. Uses only the canonical words in <see cref="Words"/>.
/// </summary>
public static class Captioner
{
    private static readonly Dictionary<Shape, string[]> Nouns = new()
    {
        [Shape.Disc] = ["disc", "circle", "ball"],
        [Shape.Square] = ["square", "box", "block"],
        [Shape.Triangle] = ["triangle", "triangle", "wedge"],
    };

    private static readonly Dictionary<ObjectSize, string[]> Sizes = new()
    {
        [ObjectSize.Small] = ["small", "little"],
        [ObjectSize.Large] = ["large", "big"],
    };

    private static readonly string[] SlideVerbs = ["slides", "moves", "glides", "drifts", "travels"];

    private static readonly Dictionary<Motion, string[]> Directions = new()
    {
        [Motion.Left] = ["to the left", "leftward", "toward the left"],
        [Motion.Right] = ["to the right", "rightward", "toward the right"],
        [Motion.Up] = ["up", "upward", "toward the top"],
        [Motion.Down] = ["down", "downward", "toward the bottom"],
        [Motion.UpLeft] = ["up and to the left", "diagonally up and left", "toward the upper left"],
        [Motion.UpRight] = ["up and to the right", "diagonally up and right", "toward the upper right"],
        [Motion.DownLeft] = ["down and to the left", "diagonally down and left", "toward the lower left"],
        [Motion.DownRight] = ["down and to the right", "diagonally down and right", "toward the lower right"],
    };

    private static readonly string[] WallBounces = ["", "", ", bouncing off the walls", " and bounces off the edges"];

    private static readonly Dictionary<Motion, string[]> Other = new()
    {
        [Motion.Falls] = ["falls and bounces on the floor", "drops under gravity, bouncing on the floor", "falls to the ground and bounces", "drops and bounces"],
        [Motion.Thrown] = ["is thrown upward and falls back down", "is tossed up and comes back down", "flies up and falls back", "is thrown up into the air and drops back"],
        [Motion.Rests] = ["rests", "stays still", "sits motionless", "does not move", "rests in place"],
    };

    private static readonly string[] Backgrounds = ["", "", "on a dark background", "against a plain dark backdrop", "on a dark plain background"];

    private static readonly string[] Pillars =
        ["A grey pillar stands in the middle.", "A grey column stands in front.", "Part of the scene is hidden behind a grey pillar.", "A gray pillar stands in the scene."];

    private static readonly string[] Joins = [", and ", " while ", "; ", ". "];

    /// <summary>Every word a caption can contain.</summary>
    public static IReadOnlySet<string> Words { get; } = new[]
        {
            Nouns.Values.SelectMany(n => n), Sizes.Values.SelectMany(n => n), SlideVerbs, Directions.Values.SelectMany(n => n),
            WallBounces, Other.Values.SelectMany(n => n), Backgrounds, Pillars, Joins,
            Enum.GetValues<Colour>().Select(c => Lexicon.ColourWords[c][0]), ["a", "the", "and", "is", "sliding", "moving", "with", "of", "size"],
        }.SelectMany(p => p).SelectMany(Lexicon.Words).ToHashSet();

    public static string Describe(SceneSpec spec, WorldRandom random)
    {
        var clauses = spec.Objects.OrderBy(_ => random.NextUInt64()).Select(o => Clause(o, random)).ToList();
        var text = clauses[0];
        for (var i = 1; i < clauses.Count; i++) text += random.Pick(Joins) + clauses[i];
        var background = random.Pick(Backgrounds);
        if (background != "") text = random.Chance(0.5) ? $"{text}, {background}" : $"{background}, {text}";
        text = Sentence(text);
        if (spec.Occluder == true) text = random.Chance(0.5) ? $"{random.Pick(Pillars)} {text}" : $"{text} {random.Pick(Pillars)}";
        return text;
    }

    private static string Clause(ObjectSpec o, WorldRandom random)
    {
        var (noun, size, colour) = (random.Pick(Nouns[o.Shape!.Value]), random.Pick(Sizes[o.Size!.Value]), Lexicon.ColourWords[o.Colour!.Value][0]);
        var motion = o.Motion!.Value;
        var phrase = Directions.TryGetValue(motion, out var directions)
            ? $"{random.Pick(SlideVerbs)} {random.Pick(directions)}{random.Pick(WallBounces)}"
            : random.Pick(Other[motion]);
        return random.Next(4) switch
        {
            0 when directions is not null => $"{(random.Chance(0.5) ? "sliding" : "moving")} {random.Pick(directions)} is a {size} {colour} {noun}",
            1 => $"a {colour} {noun} of {size} size {phrase}",
            _ => $"a {size} {colour} {noun} {phrase}",
        };
    }

    private static string Sentence(string text) => char.ToUpperInvariant(text[0]) + text[1..] + (text.EndsWith('.') ? "" : ".");
}
