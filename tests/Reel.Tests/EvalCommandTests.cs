using System.Text.Json;
using Reel.World;

namespace Reel.Tests;

public class EvalCommandTests
{
    private const string Cases = """
        # two cases, one with a word the world does not know
        a red ball bouncing	count=1 colour=red shape=disc motion=falls
        a blue box and a green wedge	count=2 colour=blue,green shape=square,triangle motion=left,rests occluder=yes chunks=2
        a magenta marble rolls	count=1 colour=magenta shape=disc motion=right size=48x32
        """;

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void The_case_file_parses_into_expected_attributes()
    {
        var cases = EvalCases.Parse(Cases);
        Assert.Equal(3, cases.Count);
        Assert.Equal(2, cases[0].Line);
        Assert.Equal(new ObjectSpec(Shape.Square, Colour.Blue, null, Motion.Left), cases[1].Expected.Objects[0]);
        Assert.True(cases[1].Expected.Occluder);
        Assert.Equal(2, cases[1].Chunks);
        Assert.Equal((48, 32), cases[2].Size);
        Assert.True(cases[0].KnownWords);
        Assert.False(cases[2].KnownWords); // "marble", "rolls"
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Theory]
    [InlineData("a ball", "expected 'prompt<TAB>attributes'")]
    [InlineData("a ball\tcount=4", "count must be 1 to 3")]
    [InlineData("a ball\tcount=1 colour=red,blue", "colour lists 2 values")]
    [InlineData("a ball\tcount=1 shape=hexagon", "unknown shape 'hexagon'")]
    [InlineData("a ball\tcount=1 motion=spins", "unknown motion 'spins'")]
    [InlineData("a ball\tcount=1 speed=fast", "unknown attribute 'speed'")]
    [InlineData("a ball\tcount=1 occluder=maybe", "occluder must be yes or no")]
    [InlineData("\tcount=1", "the prompt is empty")]
    public void Bad_case_lines_are_refused_with_their_line_number(string line, string message)
    {
        var error = Assert.Throws<FormatException>(() => EvalCases.Parse($"# header\n{line}", "cases.tsv"));
        Assert.Contains("cases.tsv:2:", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Eval_runs_end_to_end_and_reports_generated_and_ground_truth_scores_split_by_known_words()
    {
        var folder = TestModels.TempFolder();
        var prompts = Path.Combine(folder, "cases.tsv");
        File.WriteAllText(prompts, Cases);
        var json = Path.Combine(folder, "eval.json");
        var strips = Path.Combine(folder, "strips");
        var run = ReelProcess.Run("eval", "--prompts", prompts, "--config", "test", "--seeds", "1", "--steps", "2", "--threads", "1", "--json", json, "--strips", strips);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("ground truth all", run.Stdout);
        // One strip per case, named by its line: nine frames of ground truth above the same nine generated ones.
        Assert.Equal(["line002.png", "line003.png", "line004.png"], Directory.GetFiles(strips).Select(f => Path.GetFileName(f)!).Order());
        var png = File.ReadAllBytes(Path.Combine(strips, "line004.png"));
        Assert.Equal((9 * 48, 2 * 32), (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))));
        var report = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal(3, report.GetProperty("cases").GetArrayLength());
        var clip = report.GetProperty("cases")[0].GetProperty("clips")[0];
        Assert.Equal(0UL, clip.GetProperty("seed").GetUInt64());
        Assert.Equal(PromptExpander.Expand("a red ball bouncing", PromptExpander.SeedFor(0)).Caption, clip.GetProperty("caption").GetString());
        Assert.Equal(JsonValueKind.Object, clip.GetProperty("generated").ValueKind);
        Assert.Equal(3, report.GetProperty("generated").GetProperty("all").GetProperty("clips").GetInt32());
        int Clips(string split) => report.GetProperty("generated").GetProperty(split).GetProperty("clips").GetInt32();
        Assert.Equal((2, 0, 1, 1), (Clips("singleObject"), Clips("multiChunk"), Clips("multiObject"), Clips("occlusion")));
        Assert.Equal(1, report.GetProperty("groundTruth").GetProperty("newWords").GetProperty("clips").GetInt32());
        Assert.True(report.GetProperty("groundTruth").GetProperty("all").GetProperty("colour").GetDouble() >= 99);
        Assert.True(report.GetProperty("vaePsnr").GetDouble() > 0);
    }

    [Fact]
    public void Ground_truth_alone_needs_no_model_and_errors_are_one_line()
    {
        var folder = TestModels.TempFolder();
        var prompts = Path.Combine(folder, "cases.tsv");
        File.WriteAllText(prompts, Cases);
        var run = ReelProcess.Run("eval", "--prompts", prompts, "--ground-truth", "--seeds", "2");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.DoesNotContain("generated all", run.Stdout);
        Assert.Contains("ground truth knownWords", run.Stdout);

        File.WriteAllText(prompts, "a ball\tcount=9");
        var bad = ReelProcess.Run("eval", "--prompts", prompts, "--ground-truth");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("cases.tsv:1: count must be 1 to 3", bad.Stderr);
        Assert.Single(bad.Stderr.Trim().Split('\n'));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Written_cases_parse_back_to_their_attributes_and_new_word_cases_are_the_only_unknown_ones()
    {
        var cases = EvalCases.Parse(EvalCases.Write(240, 7));
        Assert.Equal(240, cases.Count);
        foreach (var c in cases)
        {
            var said = CaptionParser.Parse(c.Prompt).Spec;
            Assert.True(said.Objects.Count == c.Expected.Objects.Count, c.Prompt);
            foreach (var (heard, expected) in said.Objects.Zip(c.Expected.Objects))
                Assert.True(heard with { Size = null } == expected, $"{c.Prompt}: {heard} for {expected}");
            if (c.Expected.Occluder == true) Assert.True(said.Occluder, c.Prompt);
        }
        Assert.Equal(24, cases.Count(c => !c.KnownWords));
        Assert.All(cases.Where(c => !c.KnownWords), c => Assert.Single(c.Expected.Objects));
        Assert.True(cases.Count(c => c.Chunks > 1) >= 20);
        Assert.Equal(24, cases.Count(c => c.Expected.Objects.Count == 3));
        Assert.True(cases.Count(c => c.Expected.Occluder == true) >= 20);
    }

    [Fact]
    public void The_committed_held_out_file_is_what_reel_eval_cases_writes_from_its_stated_seed()
    {
        var committed = File.ReadAllText(Path.Combine(TestModels.RepositoryRoot(), "eval", "heldout.tsv"));
        var header = committed.Split('\n')[0];
        Assert.StartsWith("# reel eval cases --count 240 --seed 2026", header);
        var run = ReelProcess.Run("eval", "cases", "--count", "240", "--seed", "2026");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal(committed, run.Stdout);
        Assert.Equal(1, ReelProcess.Run("eval", "cases", "--count", "0").ExitCode);
    }
}
