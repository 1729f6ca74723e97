namespace Reel.World;

/// <summary>
/// The world's words: what the captioner says for each attribute (several phrasings each) and every word the parser
/// understands, synonyms included. Captions only use <see cref="CaptionWords"/>; prompts may use any <see cref="KnownWords"/>.
/// </summary>
public static class Lexicon
{
    public static readonly Dictionary<Colour, string[]> ColourWords = new()
    {
        [Colour.Red] = ["red", "crimson", "scarlet"],
        [Colour.Orange] = ["orange", "amber"],
        [Colour.Yellow] = ["yellow", "gold", "golden"],
        [Colour.Green] = ["green", "lime"],
        [Colour.Cyan] = ["cyan", "turquoise", "teal", "aqua"],
        [Colour.Blue] = ["blue", "navy"],
        [Colour.Magenta] = ["magenta", "purple", "pink", "violet", "fuchsia"],
        [Colour.White] = ["white"],
    };

    /// <summary>Shape nouns, singular then plural; captions use the first three singulars of each.</summary>
    public static readonly Dictionary<Shape, string[]> ShapeWords = new()
    {
        [Shape.Disc] = ["disc", "circle", "ball", "disk", "dot", "sphere", "discs", "circles", "balls", "disks", "dots", "spheres"],
        [Shape.Square] = ["square", "box", "block", "cube", "squares", "boxes", "blocks", "cubes"],
        [Shape.Triangle] = ["triangle", "wedge", "triangles", "wedges"],
    };

    public static readonly Dictionary<ObjectSize, string[]> SizeWords = new()
    {
        [ObjectSize.Small] = ["small", "little", "tiny"],
        [ObjectSize.Large] = ["large", "big", "huge"],
    };

    /// <summary>Nouns for an object whose shape is not said.</summary>
    public static readonly string[] GenericNouns = ["object", "shape", "thing", "one", "objects", "shapes", "things"];

    public static readonly string[] PillarNouns = ["pillar", "column", "post", "occluder", "pole"];

    public static readonly Dictionary<string, int> NumberWords = new()
    {
        ["a"] = 1, ["an"] = 1, ["one"] = 1, ["two"] = 2, ["three"] = 3, ["1"] = 1, ["2"] = 2, ["3"] = 3,
    };

    public static readonly string[] LeftWords = ["left", "leftward", "leftwards", "west"];
    public static readonly string[] RightWords = ["right", "rightward", "rightwards", "east"];
    public static readonly string[] UpWords = ["up", "upward", "upwards", "upper", "north", "rises", "rising", "rise", "top"];
    public static readonly string[] DownWords = ["down", "downward", "downwards", "lower", "south", "sinks", "sinking", "bottom"];
    public static readonly string[] FallWords = ["falls", "falling", "fall", "drops", "dropping", "drop", "tumbles"];

    /// <summary>Bouncing with no direction or fall said: a ball bouncing on the floor, i.e. falling.</summary>
    public static readonly string[] BounceWords = ["bounces", "bouncing", "bounce"];
    public static readonly string[] ThrowWords = ["thrown", "throw", "throws", "tossed", "toss", "tosses", "launched", "flies", "flung"];
    public static readonly string[] RestWords = ["rests", "resting", "rest", "still", "motionless", "stationary", "stays", "idle", "sits", "unmoving"];
    public static readonly string[] NegationWords = ["no", "without", "not"];

    /// <summary>Words that carry no attribute but belong to the world's language.</summary>
    public static readonly string[] FunctionWords =
    [
        "the", "and", "of", "in", "on", "at", "to", "from", "with", "into", "onto", "over", "under", "behind", "before",
        "after", "then", "while", "as", "is", "are", "it", "its", "each", "other", "another", "both", "again", "back", "off",
        "across", "along", "toward", "towards", "through", "out", "around", "against", "by", "for", "same", "time",
        "slides", "sliding", "slide", "moves", "moving", "move", "glides", "gliding", "drifts", "drifting", "travels",
        "travelling", "traveling", "goes", "going", "heads", "heading", "comes", "coming", "passes", "passing", "reappears",
        "emerges", "disappears", "hidden", "hides", "appears", "stands", "standing", "stand", "does", "do", "diagonally",
        "diagonal", "gravity", "under", "floor", "ground", "walls", "wall", "edges", "edge", "frame", "frames", "scene",
        "video", "clip", "background", "backdrop", "dark", "plain", "grey", "gray", "middle", "centre", "center",
        "corner", "side", "sides", "high", "air", "there", "here", "lies", "lying", "steadily",
        "steady", "slowly", "quickly", "fast", "slow", "constant", "speed", "objects", "shapes", "where", "that", "which",
        "this", "first", "second", "third", "place", "spot", "sight", "view", "once", "until", "move", "moves", "come",
        "part", "front", "be", "being", "stay", "remains", "remain", "size", "sized", "colour", "color", "they", "them",
        "starts", "start", "starting", "keeps", "keep", "continues", "continue", "rolls", "rolling", "roll",
    ];

    public static IEnumerable<string> AllWords =>
        ColourWords.Values.SelectMany(w => w).Concat(ShapeWords.Values.SelectMany(w => w)).Concat(SizeWords.Values.SelectMany(w => w))
            .Concat(GenericNouns).Concat(PillarNouns).Concat(NumberWords.Keys).Concat(LeftWords).Concat(RightWords).Concat(UpWords)
            .Concat(DownWords).Concat(FallWords).Concat(BounceWords).Concat(ThrowWords).Concat(RestWords).Concat(NegationWords).Concat(FunctionWords);

    /// <summary>Every word the parser understands.</summary>
    public static readonly IReadOnlySet<string> KnownWords = AllWords.ToHashSet();

    /// <summary>Lower-cased words of a text: maximal runs of letters and digits.</summary>
    public static string[] Words(string text) =>
        System.Text.RegularExpressions.Regex.Matches(text.ToLowerInvariant(), @"[\p{L}\p{N}]+").Select(m => m.Value).ToArray();
}
