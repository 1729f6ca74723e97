using System.Text.RegularExpressions;

namespace Reel.World;

/// <summary>What a caption or prompt says, and the words the world does not know.</summary>
public sealed record ParsedCaption(SceneSpec Spec, IReadOnlyList<string> UnknownWords);

/// <summary>
/// Recovers attributes from captions and prompts. The text splits into clauses at sentence punctuation and at
/// "and"/"while" that start a new noun phrase; in a clause, each shape noun (or "object", "shape", …) is an object whose
/// colour and size come from the words before it, and the clause's motion words apply to its objects (in a clause with
/// none, to the motionless objects before it, else to an object of their own). Motion words
/// are read in order of precedence: thrown, resting, falling, a direction, and last bare bouncing (a ball bouncing falls).
/// </summary>
public static partial class CaptionParser
{
    public static ParsedCaption Parse(string text)
    {
        var tokens = Tokens().Matches(text.ToLowerInvariant()).Select(m => m.Value).ToArray();
        var objects = new List<ObjectSpec>();
        bool? occluder = null;
        foreach (var clause in Clauses(tokens))
        {
            var mentions = new List<(ObjectSpec Spec, int Count)>();
            (Colour? colour, ObjectSize? size, int count) pending = (null, null, 1);
            for (var i = 0; i < clause.Length; i++)
            {
                var word = clause[i];
                if (Find(Lexicon.ColourWords, word) is { } c) pending.colour = c;
                // "a red disc of small size": a size after the noun belongs to it.
                else if (Find(Lexicon.SizeWords, word) is { } s && mentions.Count > 0 && mentions[^1].Spec.Size is null && pending.colour is null)
                    mentions[^1] = mentions[^1] with { Spec = mentions[^1].Spec with { Size = s } };
                else if (Find(Lexicon.SizeWords, word) is { } size) pending.size = size;
                else if (Lexicon.PillarNouns.Contains(word))
                    occluder = !clause[Math.Max(0, i - 3)..i].Any(Lexicon.NegationWords.Contains);
                else if (IsNoun(clause, i, out var shape))
                {
                    mentions.Add((new ObjectSpec(shape, pending.colour, pending.size), pending.count));
                    pending = (null, null, 1);
                }
                else if (Lexicon.NumberWords.TryGetValue(word, out var n)) pending.count = n;
            }
            // A colour with no noun after it ("a red one", "red"): still an object.
            if (mentions.Count == 0 && pending.colour is not null) mentions.Add((new ObjectSpec(null, pending.colour, pending.size), pending.count));
            var motion = MotionOf(clause);
            // A motion with no object ("it starts sliding to the left", "they drift west") is that of the objects before
            // it that have none, or of an object the prompt says nothing else about.
            if (mentions.Count == 0 && motion is not null)
            {
                var still = objects.Count;
                while (still > 0 && objects[still - 1].Motion is null) still--;
                for (var k = still; k < objects.Count; k++) objects[k] = objects[k] with { Motion = motion };
                if (still == objects.Count) objects.Add(new ObjectSpec(Motion: motion));
            }
            foreach (var (spec, count) in mentions)
                for (var k = 0; k < count; k++) objects.Add(spec with { Motion = motion });
        }
        var unknown = tokens.Where(t => t.Length > 0 && char.IsLetterOrDigit(t[0]) && !Lexicon.KnownWords.Contains(t)).Distinct().ToArray();
        return new ParsedCaption(new SceneSpec(objects, occluder), unknown);
    }

    private static bool IsNoun(string[] clause, int i, out Shape? shape)
    {
        shape = null;
        // A shape word right after a noun is its verb: "a ball circles".
        if (i > 0 && (Find(Lexicon.ShapeWords, clause[i - 1]) is not null || Lexicon.GenericNouns.Contains(clause[i - 1]) && clause[i - 1] != "one")) return false;
        shape = Find(Lexicon.ShapeWords, clause[i]);
        if (shape is not null) return true;
        if (!Lexicon.GenericNouns.Contains(clause[i])) return false;
        // "one" counts only after an adjective ("a red one"); elsewhere it is a number.
        return clause[i] != "one" || (i > 0 && (Find(Lexicon.ColourWords, clause[i - 1]) is not null || Find(Lexicon.SizeWords, clause[i - 1]) is not null));
    }

    private static Motion? MotionOf(string[] clause)
    {
        bool Has(string[] words) => clause.Any(words.Contains);
        if (Has(Lexicon.ThrowWords)) return Motion.Thrown;
        if (Has(Lexicon.RestWords) || Negated(clause)) return Motion.Rests;
        if (Has(Lexicon.FallWords)) return Motion.Falls;
        var (left, right, up, down) = (Has(Lexicon.LeftWords), Has(Lexicon.RightWords), Has(Lexicon.UpWords), Has(Lexicon.DownWords));
        var horizontal = left == right ? 0 : left ? -1 : 1;
        var vertical = up == down ? 0 : up ? -1 : 1;
        return Slides.FromSigns(horizontal, vertical) ?? (Has(Lexicon.BounceWords) ? Motion.Falls : null);
    }

    /// <summary>"does not move", "never moving".</summary>
    private static bool Negated(string[] clause) =>
        clause.Zip(clause.Skip(1)).Any(p => p.First is "not" or "never" && p.Second is "move" or "moves" or "moving");

    private static IEnumerable<string[]> Clauses(string[] tokens)
    {
        var current = new List<string>();
        for (var i = 0; i < tokens.Length; i++)
        {
            var t = tokens[i];
            // "and"/"while" start a new clause when a noun phrase ("a …", "two …") or a fronted motion ("sliding …") follows.
            var boundary = t is "." or ";" or ":" or "!" or "?"
                || (t is "and" or "while" or "then" && i + 1 < tokens.Length
                    && ((Lexicon.NumberWords.ContainsKey(tokens[i + 1]) && tokens[i + 1] != "one") || tokens[i + 1] is "sliding" or "moving"));
            if (boundary)
            {
                if (current.Count > 0) yield return current.ToArray();
                current.Clear();
            }
            else current.Add(t);
        }
        if (current.Count > 0) yield return current.ToArray();
    }

    private static T? Find<T>(Dictionary<T, string[]> words, string word) where T : struct =>
        words.FirstOrDefault(p => p.Value.Contains(word)) is { Value: not null } hit ? hit.Key : null;

    [GeneratedRegex(@"[\p{L}\p{N}]+|[.;:!?]")]
    private static partial Regex Tokens();
}
