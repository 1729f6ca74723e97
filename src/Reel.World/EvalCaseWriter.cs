namespace Reel.World;

public static partial class EvalCases
{
    /// <summary>Kinds of case and the share of a written file each takes, in file order.</summary>
    private static readonly (string Kind, double Share)[] Kinds =
        [("single", 0.4), ("long", 0.12), ("two", 0.17), ("three", 0.1), ("pillar", 0.11), ("new words", 0.1)];

    private static readonly Dictionary<Motion, string[]> Phrases = new()
    {
        [Motion.Left] = ["slides to the left", "moves left", "glides leftward"],
        [Motion.Right] = ["slides to the right", "moves right", "travels rightward"],
        [Motion.Up] = ["moves up", "glides upward", "slides toward the top"],
        [Motion.Down] = ["moves down", "slides downward", "drifts toward the bottom"],
        [Motion.UpLeft] = ["moves up and to the left", "glides diagonally up and left"],
        [Motion.UpRight] = ["moves up and to the right", "slides diagonally up and right"],
        [Motion.DownLeft] = ["moves down and to the left", "drifts diagonally down and left"],
        [Motion.DownRight] = ["moves down and to the right", "slides diagonally down and right"],
        [Motion.Falls] = ["falls", "drops and bounces", "falls and bounces on the floor"],
        [Motion.Thrown] = ["is thrown up", "is thrown upward and falls back down"],
        [Motion.Rests] = ["rests", "stays still", "sits motionless"],
    };

    /// <summary>Phrasings the parser knows but training captions never use.</summary>
    private static readonly Dictionary<Motion, string[]> NewPhrases = new()
    {
        [Motion.Left] = ["heads west", "goes leftwards"], [Motion.Right] = ["heads east", "goes rightwards"],
        [Motion.Up] = ["rises", "heads north"], [Motion.Down] = ["sinks", "heads south"],
        [Motion.UpLeft] = ["heads north and west"], [Motion.UpRight] = ["heads north and east"],
        [Motion.DownLeft] = ["heads south and west"], [Motion.DownRight] = ["heads south and east"],
        [Motion.Falls] = ["tumbles", "drops to the ground"], [Motion.Thrown] = ["is tossed up", "is flung into the air"],
        [Motion.Rests] = ["is stationary", "stays idle"],
    };

    /// <summary>Singular shape nouns: the ones captions use, then the ones they never do.</summary>
    private static readonly Dictionary<Shape, (string[] Caption, string[] New)> ShapeNouns = new()
    {
        [Shape.Disc] = (["disc", "circle", "ball"], ["disk", "dot", "sphere"]),
        [Shape.Square] = (["square", "box", "block"], ["cube"]),
        [Shape.Triangle] = (["triangle", "wedge"], []),
    };

    /// <summary>
    /// An evaluation file of plain-spoken prompts drawn from <paramref name="seed"/>: single objects (one chunk and
    /// several), two and three objects, a pillar that hides a sliding object, and prompts in words never used in
    /// training captions. Every prompt parses back to its attributes, so a case measures the model, not the parser.
    /// </summary>
    public static string Write(int count, ulong seed)
    {
        var random = new WorldRandom(seed);
        var lines = new List<string> { $"# reel eval cases --count {count} --seed {seed}: prompt<TAB>attributes (see docs/contracts.md)" };
        var written = 0;
        foreach (var (kind, share) in Kinds)
        {
            var n = kind == Kinds[^1].Kind ? count - written : (int)Math.Round(share * count);
            for (var i = 0; i < n; i++) lines.Add(WriteCase(kind, random));
            written += n;
        }
        return string.Join('\n', lines) + "\n";
    }

    private static string WriteCase(string kind, WorldRandom random)
    {
        var count = kind switch { "two" => 2, "three" => 3, _ => 1 };
        var fresh = kind == "new words";
        var objects = Enum.GetValues<Colour>().OrderBy(_ => random.NextUInt64()).Take(count).Select(colour => new ObjectSpec(
            random.Pick(Enum.GetValues<Shape>()), colour, null,
            kind == "pillar" ? random.Pick([Motion.Left, Motion.Right]) : random.Pick(Enum.GetValues<Motion>()))).ToArray();
        var prompt = string.Join(random.Pick([", and ", " while ", ". "]), objects.Select(o => Clause(o, fresh, random)));
        if (kind == "pillar") prompt += random.Pick([" behind a grey pillar", ". A grey pillar stands in the middle"]);
        string List(Func<ObjectSpec, string> name) => string.Join(',', objects.Select(name));
        var attributes = $"count={count} colour={List(o => o.Colour!.Value.ToString().ToLowerInvariant())}"
            + $" shape={List(o => o.Shape!.Value.ToString().ToLowerInvariant())} motion={List(o => Motions.First(m => m.Value == o.Motion).Key)}"
            + (kind == "pillar" ? " occluder=yes" : count > 1 ? " occluder=no" : "")
            + (kind == "long" ? $" chunks={2 + random.Next(2)}" : "");
        return $"{prompt}\t{attributes}";
    }

    /// <summary>"a red ball falls", "a big orange box rests"; in new words where the world has them (white and wedges have one name).</summary>
    private static string Clause(ObjectSpec o, bool fresh, WorldRandom random)
    {
        static string[] Choose(string[] caption, string[] other, bool fresh) => fresh && other.Length > 0 ? other : caption;
        var colours = Lexicon.ColourWords[o.Colour!.Value];
        var (captionNouns, newNouns) = ShapeNouns[o.Shape!.Value];
        var colour = random.Pick(Choose(colours[..1], colours[1..], fresh));
        var noun = random.Pick(Choose(captionNouns, newNouns, fresh));
        var motion = random.Pick((fresh ? NewPhrases : Phrases)[o.Motion!.Value]);
        // Captions never say "an": a colour that starts with a vowel gets a size word before it instead.
        var size = "aeiou".Contains(colour[0]) || random.Chance(0.25) ? random.Pick(["small", "little", "large", "big"]) + " " : "";
        return $"a {size}{colour} {noun} {motion}";
    }
}
