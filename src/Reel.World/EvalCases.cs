using System.Globalization;

namespace Reel.World;

/// <summary>One evaluation case: a prompt, the attributes a clip of it must show, its length in chunks and its size.</summary>
public sealed record EvalCase(int Line, string Prompt, SceneSpec Expected, int Chunks, (int Width, int Height)? Size)
{
    /// <summary>True when every word of the prompt occurs in training captions.</summary>
    public bool KnownWords => Lexicon.Words(Prompt).All(Captioner.Words.Contains);
}

/// <summary>
/// The evaluation file: one case per line, <c>prompt TAB attributes</c>; <c>#</c> comments and blank lines ignored.
/// Attributes are space-separated <c>key=value</c>: count, colour, shape, motion (comma-separated lists in object order,
/// as long as count), occluder (yes|no), chunks (default 1), size (WxH).
/// </summary>
public static partial class EvalCases
{
    private static readonly Dictionary<string, Motion> Motions = new()
    {
        ["left"] = Motion.Left, ["right"] = Motion.Right, ["up"] = Motion.Up, ["down"] = Motion.Down,
        ["up-left"] = Motion.UpLeft, ["up-right"] = Motion.UpRight, ["down-left"] = Motion.DownLeft, ["down-right"] = Motion.DownRight,
        ["falls"] = Motion.Falls, ["thrown"] = Motion.Thrown, ["rests"] = Motion.Rests,
    };

    public static IReadOnlyList<EvalCase> Parse(string text, string source = "prompts")
    {
        var cases = new List<EvalCase>();
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string Fail(string why) => throw new FormatException($"{source}:{i + 1}: {why}");
            var parts = lines[i].Split('\t');
            if (parts.Length != 2) Fail("expected 'prompt<TAB>attributes'");
            var prompt = parts[0].Trim();
            if (prompt.Length == 0) Fail("the prompt is empty");
            var attributes = new Dictionary<string, string>();
            foreach (var pair in parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split('=', 2);
                if (kv.Length != 2 || kv[1].Length == 0) Fail($"'{pair}' is not key=value");
                if (!attributes.TryAdd(kv[0], kv[1])) Fail($"'{kv[0]}' is given twice");
            }
            foreach (var key in attributes.Keys.Except(["count", "colour", "shape", "motion", "occluder", "chunks", "size"]))
                Fail($"unknown attribute '{key}'");
            if (!attributes.TryGetValue("count", out var countText) || !int.TryParse(countText, CultureInfo.InvariantCulture, out var count)
                || count < 1 || count > ProceduralWorld.MaxObjects)
                Fail($"count must be 1 to {ProceduralWorld.MaxObjects}");
            T?[] List<T>(string key, Func<string, T?> parse) where T : struct
            {
                if (!attributes.TryGetValue(key, out var value)) return new T?[count];
                var items = value.Split(',');
                if (items.Length != count) Fail($"{key} lists {items.Length} values for count={count}");
                return items.Select(item => (T?)(parse(item) ?? throw new FormatException($"{source}:{i + 1}: unknown {key} '{item}'"))).ToArray();
            }
            var colours = List("colour", c => Enum.TryParse<Colour>(c, true, out var v) && char.IsLetter(c[0]) ? v : (Colour?)null);
            var shapes = List("shape", s => Enum.TryParse<Shape>(s, true, out var v) && char.IsLetter(s[0]) ? v : (Shape?)null);
            var motions = List("motion", m => Motions.TryGetValue(m, out var v) ? v : (Motion?)null);
            bool? occluder = attributes.GetValueOrDefault("occluder") switch
            {
                null => null,
                "yes" => true,
                "no" => false,
                var other => throw new FormatException($"{source}:{i + 1}: occluder must be yes or no, not '{other}'"),
            };
            var chunks = 1;
            if (attributes.TryGetValue("chunks", out var chunkText) && (!int.TryParse(chunkText, CultureInfo.InvariantCulture, out chunks) || chunks < 1 || chunks > 20))
                Fail("chunks must be 1 to 20");
            (int, int)? size = null;
            if (attributes.TryGetValue("size", out var sizeText))
            {
                var wh = sizeText.Split('x');
                if (wh.Length != 2 || !int.TryParse(wh[0], out var w) || !int.TryParse(wh[1], out var h) || w <= 0 || h <= 0) Fail($"size '{sizeText}' is not WxH");
                else size = (w, h);
            }
            var objects = Enumerable.Range(0, count).Select(k => new ObjectSpec(shapes[k], colours[k], null, motions[k])).ToArray();
            cases.Add(new EvalCase(i + 1, prompt, new SceneSpec(objects, occluder), chunks, size));
        }
        return cases;
    }
}

