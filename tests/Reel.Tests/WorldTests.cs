using Reel.World;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class WorldTests
{
    private static WorldClip Clip(ulong seed, int w = 48, int h = 48, int frames = 25) => ProceduralWorld.Sample(seed, w, h, frames, 8);

    [Fact]
    public void The_same_seed_renders_the_same_clip_and_caption()
    {
        var (a, b, c) = (Clip(7), Clip(7), Clip(8));
        Assert.Equal(a.Caption, b.Caption);
        Assert.True(a.Frames.Zip(b.Frames).All(p => p.First.Pixels.AsSpan().SequenceEqual(p.Second.Pixels)));
        Assert.False(a.Frames.Zip(c.Frames).All(p => p.First.Pixels.AsSpan().SequenceEqual(p.Second.Pixels)));
    }

    [Theory]
    [InlineData(32, 32)]
    [InlineData(48, 48)]
    [InlineData(64, 48)]
    [InlineData(48, 64)]
    [InlineData(96, 32)]
    public void Ground_truth_agrees_with_the_rendered_pixels_at_every_size(int w, int h)
    {
        for (ulong seed = 0; seed < 40; seed++)
        {
            var clip = Clip(seed, w, h, 17);
            Assert.All(clip.Frames, f => Assert.Equal((w, h, w * h * 3), (f.Width, f.Height, f.Pixels.Length)));
            for (var f = 0; f < clip.Frames.Count; f++)
            {
                var states = clip.Truth[f];
                for (var i = 0; i < states.Length; i++)
                {
                    var s = states[i];
                    var coveredLater = Enumerable.Range(i + 1, states.Length - i - 1)
                        .Any(j => Math.Abs(states[j].X - s.X) + Math.Abs(states[j].Y - s.Y) < 2 * (states[j].Radius + s.Radius));
                    if (s.Hidden || s.PartlyHidden || coveredLater) continue;
                    var (x, y) = ((int)s.X, (int)s.Y);
                    var k = 3 * (y * w + x);
                    Assert.Equal(WorldPalette.Rgb(clip.Scene.Objects[i].Colour), (clip.Frames[f].Pixels[k], clip.Frames[f].Pixels[k + 1], clip.Frames[f].Pixels[k + 2]));
                }
                // A pixel far from every object and the pillar is the background.
                var pillar = clip.Scene.Occluder;
                var far = Enumerable.Range(0, w * h).FirstOrDefault(p =>
                    states.All(s => Math.Abs(p % w + 0.5 - s.X) + Math.Abs(p / w + 0.5 - s.Y) > 3 * s.Radius + 2)
                    && (pillar is null || p % w + 1 < pillar.Left || p % w > pillar.Right), -1);
                if (far >= 0) Assert.Equal(clip.Scene.Background, (clip.Frames[f].Pixels[3 * far], clip.Frames[f].Pixels[3 * far + 1], clip.Frames[f].Pixels[3 * far + 2]));
            }
        }
    }

    [Fact]
    public void Objects_move_as_their_motion_says()
    {
        var spec = new SceneSpec([new ObjectSpec(Shape.Disc, Colour.Red, ObjectSize.Small, Motion.Falls),
            new ObjectSpec(Shape.Square, Colour.Blue, ObjectSize.Small, Motion.Left), new ObjectSpec(Shape.Triangle, Colour.Green, ObjectSize.Large, Motion.Rests)]);
        var clip = ProceduralWorld.Render(spec, 3, 64, 64, 12, 8);
        var (fall, slide, rest) = (clip.Truth.Select(s => s[0]).ToArray(), clip.Truth.Select(s => s[1]).ToArray(), clip.Truth.Select(s => s[2]).ToArray());
        Assert.True(fall[3].Y - fall[2].Y > fall[1].Y - fall[0].Y, "falling speeds up");
        Assert.True(slide[1].X < slide[0].X, "sliding left");
        Assert.All(rest, s => Assert.Equal(rest[0], s));
        Assert.All(fall, s => Assert.InRange(s.Y, 0, 64 - s.Radius + 1e-9));
    }

    [Fact]
    public void Captions_vary_in_wording_and_use_only_caption_words()
    {
        var captions = Enumerable.Range(0, 300).Select(s => Clip((ulong)s).Caption).ToArray();
        Assert.True(captions.Distinct().Count() > 290);
        var starts = captions.Select(c => string.Join(' ', Lexicon.Words(c).Take(2))).Distinct().Count();
        Assert.True(starts > 20, $"only {starts} different openings");
        Assert.All(captions.SelectMany(Lexicon.Words), w => Assert.Contains(w, Captioner.Words));
        Assert.All(Captioner.Words, w => Assert.Contains(w, Lexicon.KnownWords));
    }

    [Fact]
    public void The_caption_encoder_vocabulary_holds_every_caption_word()
    {
        Assert.All(Captioner.Words, w => Assert.Contains(w, Reel.Model.CaptionVocabulary.Default));
    }

    [Fact]
    public void The_parser_recovers_every_attribute_of_generated_captions()
    {
        for (ulong seed = 0; seed < 1000; seed++)
        {
            var clip = Clip(seed, frames: 1);
            var parsed = CaptionParser.Parse(clip.Caption);
            Assert.Empty(parsed.UnknownWords);
            Assert.Equal(Key(clip.Spec), Key(parsed.Spec));
            Assert.Equal(clip.Spec.Occluder == true, parsed.Spec.Occluder == true);
        }
    }

    private static string Key(SceneSpec spec) =>
        string.Join(" | ", spec.Objects.Select(o => $"{o.Size} {o.Colour} {o.Shape} {o.Motion}").Order());

    [Theory]
    [InlineData("red ball bouncing", "Red Disc Falls")]
    [InlineData("a big blue box slides to the left", "Large Blue Square Left")]
    [InlineData("a teal wedge moves diagonally up and to the right", "Cyan Triangle UpRight")]
    [InlineData("two yellow balls rest", "Yellow Disc Rests|Yellow Disc Rests")]
    [InlineData("a little purple circle is tossed up", "Small Magenta Disc Thrown")]
    [InlineData("an orange square does not move and a white triangle falls", "Orange Square Rests|White Triangle Falls")]
    [InlineData("it starts sliding to the left", "Left")]
    [InlineData("the ball drifts west", "Disc Left")]
    [InlineData("a red ball. it heads toward the right edge", "Red Disc Right")]
    public void Prompts_with_synonyms_parse_and_expand_to_a_superset(string prompt, string expected)
    {
        var parsed = CaptionParser.Parse(prompt);
        var wanted = expected.Split('|').Select(e => e.Split(' ')).ToArray();
        Assert.Equal(wanted.Length, parsed.Spec.Objects.Count);
        for (var i = 0; i < wanted.Length; i++)
            Assert.All(wanted[i], attribute => Assert.Contains(attribute, $"{parsed.Spec.Objects[i].Size} {parsed.Spec.Objects[i].Colour} {parsed.Spec.Objects[i].Shape} {parsed.Spec.Objects[i].Motion}".Split(' ')));

        for (ulong seed = 0; seed < 50; seed++)
        {
            var expanded = PromptExpander.Expand(prompt, seed);
            var reparsed = CaptionParser.Parse(expanded.Caption).Spec;
            Assert.Equal(Key(expanded.Spec), Key(reparsed));
            Assert.All(reparsed.Objects, o => Assert.True(o.IsComplete));
            var unmatched = reparsed.Objects.ToList();
            foreach (var asked in parsed.Spec.Objects)
            {
                var hit = unmatched.FirstOrDefault(o => (asked.Colour ?? o.Colour) == o.Colour && (asked.Shape ?? o.Shape) == o.Shape
                    && (asked.Size ?? o.Size) == o.Size && (asked.Motion ?? o.Motion) == o.Motion);
                Assert.NotNull(hit);
                unmatched.Remove(hit);
            }
        }
    }

    [Fact]
    public void Unknown_words_are_reported_not_fatal()
    {
        var expanded = PromptExpander.Expand("a zebra gallops past a red ball", 1);
        Assert.Equal(["zebra", "gallops", "past"], expanded.UnknownWords);
        Assert.Contains(expanded.Spec.Objects, o => o.Colour == Colour.Red && o.Shape == Shape.Disc);
        Assert.Single(PromptExpander.Expand("something nobody said", 2).Spec.Objects);
    }

    [Fact]
    public void The_tracker_reads_ground_truth_at_98_percent_or_better_on_every_metric()
    {
        var scores = new List<ClipScores>();
        for (ulong seed = 0; seed < 300; seed++)
        {
            var clip = Clip(seed + 10_000, frames: 33);
            scores.Add(ClipEvaluation.Score(Tracker.Track(clip.Frames), clip.Spec, 8, []));
        }
        var report = new Dictionary<string, double>
        {
            ["colour"] = scores.Average(s => s.Colour), ["shape"] = scores.Average(s => s.Shape), ["count"] = scores.Average(s => s.Count),
            ["motion"] = scores.Average(s => s.Motion), ["presence"] = scores.Average(s => s.Presence),
            ["permanence"] = scores.Where(s => s.Permanence is not null).Average(s => s.Permanence!.Value),
        };
        Assert.True(scores.Count(s => s.Permanence is not null) >= 20, "enough occlusions to measure permanence");
        Assert.True(report.Values.All(v => v >= 98), string.Join(", ", report.Select(p => $"{p.Key} {p.Value:0.0}")));
    }

    [Fact]
    public void A_clip_is_described_as_the_tracker_sees_it_and_an_image_without_its_motion()
    {
        var described = 0;
        for (ulong seed = 0; seed < 60; seed++)
        {
            var clip = ProceduralWorld.Sample(seed + 20_000, 48, 48, 17, 8, WorldOptions.SingleObject);
            var truth = clip.Spec.Objects[0];
            var shown = ClipDescription.Of(clip.Frames, 8);
            var still = ClipDescription.Of([clip.Frames[0]], 8);
            Assert.False(shown.Occluder);
            if (Key(shown) == Key(clip.Spec)) described++;
            Assert.Equal(truth.Colour, Assert.Single(still.Objects).Colour);
            Assert.Null(still.Objects[0].Motion);
        }
        Assert.True(described >= 55, $"{described} of 60 clips described exactly");
    }

    [Theory]
    [InlineData("it starts sliding to the left", "Small Red Disc Left")]
    [InlineData("drifts west", "Small Red Disc Left")]
    [InlineData("the ball keeps bouncing", "Small Red Disc Falls")]
    [InlineData("a blue ball bouncing", "Small Blue Disc Falls")]
    [InlineData("a large square rests", "Large Red Square Rests")]
    [InlineData("a ball circles", "Small Red Disc")]
    public void The_prompt_wins_where_it_speaks_and_the_given_frames_fill_the_rest_whatever_the_seed(string prompt, string expected)
    {
        var shown = new SceneSpec([new ObjectSpec(Shape.Disc, Colour.Red, ObjectSize.Small, Motion.Right)], Occluder: false);
        var wanted = expected.Split(' ');
        for (ulong seed = 0; seed < 40; seed++)
        {
            var expanded = PromptExpander.Expand(prompt, seed, shown);
            var o = Assert.Single(CaptionParser.Parse(expanded.Caption).Spec.Objects);
            Assert.All(wanted, attribute => Assert.Contains(attribute, $"{o.Size} {o.Colour} {o.Shape} {o.Motion}".Split(' ')));
            // Nothing the prompt leaves open is drawn at random: an unsaid motion is the one the frames show.
            if (wanted.Length == 3) Assert.Equal(Motion.Right, o.Motion);
            Assert.DoesNotContain("pillar", expanded.Caption);
        }
    }

    [Fact]
    public void A_prompt_about_one_of_two_shown_objects_keeps_the_other_as_shown()
    {
        var shown = new SceneSpec([new ObjectSpec(Shape.Disc, Colour.Red, ObjectSize.Small, Motion.Right),
            new ObjectSpec(Shape.Triangle, Colour.Green, ObjectSize.Large, Motion.Falls)], Occluder: true);
        var spec = PromptExpander.Expand("the green one slides up", 3, shown).Spec;
        Assert.Equal("Large Green Triangle Up | Small Red Disc Right", Key(spec));
        Assert.True(spec.Occluder);
    }
}
