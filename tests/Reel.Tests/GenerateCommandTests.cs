using System.Text.Json;
using FFMpegCore;
using Reel.Media;
using World = Reel.World;

namespace Reel.Tests;

/// <summary>`reel generate` end to end, as a separate process, on fresh weights of the `test` configuration (and once on the shipped weights).</summary>
public class GenerateCommandTests
{
    private readonly string _folder = TestModels.TempFolder();

    private string PathFor(string name) => Path.Combine(_folder, name);

    private JsonElement Generate(params string[] args)
    {
        var run = ReelProcess.Run(["generate", .. args, "--config", "test", "--threads", "1", "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return JsonDocument.Parse(run.Stdout).RootElement;
    }

    private static int CountFrames(string path) => FFProbe.GetFrames(path).Frames.Count;

    private static async Task<IReadOnlyList<RgbFrame>> Frames(string path) => await MediaReader.ReadVideoAsync(path, 32, 32, 8);

    /// <summary>Mean absolute difference in [0, 255] between frame runs: H.264 keeps copied footage within a few levels.</summary>
    private static double Difference(IEnumerable<RgbFrame> a, IEnumerable<RgbFrame> b) =>
        a.Zip(b).SelectMany(p => p.First.Pixels.Zip(p.Second.Pixels, (x, y) => (double)Math.Abs(x - y))).Average();

    private static int Closest(IReadOnlyList<RgbFrame> frames, RgbFrame still) =>
        Enumerable.Range(0, frames.Count).MinBy(i => Difference([frames[i]], [still]));

    private string Source(string name, int seconds, ulong seed)
    {
        var path = PathFor(name);
        Generate("a source clip", "-o", path, "--seconds", seconds.ToString(), "--seed", seed.ToString());
        return path;
    }

    [Fact]
    public async Task Text_to_video_writes_an_mp4_a_thumbnail_and_a_spritesheet_from_the_same_frames()
    {
        var (mp4, thumb, sheet) = (PathFor("out.mp4"), PathFor("thumb.png"), PathFor("sheet.png"));
        var report = Generate("a red ball bouncing", "-o", mp4, "--seconds", "3", "--seed", "5", "--thumbnail", thumb, "--spritesheet", sheet);
        Assert.Equal(25, report.GetProperty("frames").GetInt32());
        Assert.Equal(3, report.GetProperty("chunks").GetInt32());
        var probe = await FFProbe.AnalyseAsync(mp4);
        Assert.Equal(("h264", 32, 32), (probe.PrimaryVideoStream!.CodecName, probe.PrimaryVideoStream.Width, probe.PrimaryVideoStream.Height));
        Assert.Equal(8, probe.PrimaryVideoStream.AverageFrameRate, 3);
        Assert.Equal(25, CountFrames(mp4));

        var frames = await Frames(mp4);
        var still = await MediaReader.ReadImageAsync(thumb, 32, 32);
        Assert.Equal(12, Closest(frames, still)); // the thumbnail is the middle frame
        var grid = await FFProbe.AnalyseAsync(sheet);
        Assert.Equal((128, 128), (grid.PrimaryVideoStream!.Width, grid.PrimaryVideoStream.Height)); // 16 frames, 4 × 4
        var cell = await MediaReader.ReadImageAsync(sheet, 128, 128);
        var lastCell = new RgbFrame(32, 32, Enumerable.Range(0, 32).SelectMany(y => cell.Pixels.Skip(((96 + y) * 128 + 96) * 3).Take(96)).ToArray());
        Assert.Equal(24, Closest(frames, lastCell)); // the spritesheet ends with the last frame
    }

    [Fact]
    public async Task Image_to_video_starts_from_the_image()
    {
        var image = PathFor("start.png");
        await MediaWriter.WriteImageAsync(image, new RgbFrame(64, 64, Enumerable.Range(0, 64 * 64 * 3).Select(i => (byte)(i * 7 % 256)).ToArray()));
        var report = Generate("it moves", "-o", PathFor("i2v.mp4"), "--image", image, "--seconds", "2", "--seed", "1");
        Assert.Equal(17, report.GetProperty("frames").GetInt32());
        Assert.Equal("image", report.GetProperty("mode").GetString());
        Assert.Equal("32x32", report.GetProperty("size").GetString()); // square input, the square size
        Assert.Equal(17, CountFrames(PathFor("i2v.mp4")));
    }

    [Fact]
    public async Task Extending_keeps_the_source_frames_and_adds_new_ones_after_or_before()
    {
        var source = Source("source.mp4", 2, 11);
        var sourceFrames = await Frames(source);
        var forward = Generate("and then", "-o", PathFor("forward.mp4"), "--extend", source, "--seconds", "1", "--seed", "2");
        Assert.Equal(17 + 8, forward.GetProperty("frames").GetInt32());
        var after = await Frames(PathFor("forward.mp4"));
        Assert.Equal(25, after.Count);
        Assert.True(Difference(sourceFrames, after.Take(17)) < 6, "the source comes first, unchanged");

        var backward = Generate("before that", "-o", PathFor("backward.mp4"), "--extend", source, "--backward", "--seconds", "1", "--seed", "2");
        Assert.Equal(9 + 17, backward.GetProperty("frames").GetInt32());
        var before = await Frames(PathFor("backward.mp4"));
        Assert.True(Difference(sourceFrames, before.Skip(9)) < 6, "the source comes last, unchanged");
    }

    [Fact]
    public async Task Connecting_two_videos_puts_a_bridge_between_them()
    {
        var (a, b) = (Source("a.mp4", 1, 21), Source("b.mp4", 1, 22));
        var report = Generate("a bridge", "-o", PathFor("joined.mp4"), "--connect", a, b, "--seconds", "2", "--seed", "3");
        Assert.Equal(9 + 16 + 9, report.GetProperty("frames").GetInt32());
        var joined = await Frames(PathFor("joined.mp4"));
        Assert.True(Difference(await Frames(a), joined.Take(9)) < 6);
        Assert.True(Difference(await Frames(b), joined.Skip(25)) < 6);
    }

    [Fact]
    public async Task Loops_and_edits_run_end_to_end()
    {
        var loop = Generate("round and round", "-o", PathFor("loop.mp4"), "--loop", "--seconds", "3", "--seed", "4");
        Assert.Equal(("loop", 25), (loop.GetProperty("mode").GetString(), loop.GetProperty("frames").GetInt32()));
        Assert.Equal(25, CountFrames(PathFor("loop.mp4")));

        var source = Source("to-edit.mp4", 2, 12);
        var edit = Generate("the same, but blue", "-o", PathFor("edit.mp4"), "--edit", source, "--strength", "0.4", "--seed", "5");
        Assert.Equal(("edit", 17), (edit.GetProperty("mode").GetString(), edit.GetProperty("frames").GetInt32()));
        Assert.Equal(17, CountFrames(PathFor("edit.mp4")));
    }

    [Fact]
    public void Prompts_are_expanded_into_captions_unless_asked_not_to()
    {
        var expanded = Generate("red ball bouncing", "-o", PathFor("expanded.mp4"), "--frames", "1", "--seed", "9");
        var caption = expanded.GetProperty("caption").GetString()!;
        Assert.Equal(Reel.World.PromptExpander.Expand("red ball bouncing", Reel.World.PromptExpander.SeedFor(9)).Caption, caption);
        Assert.NotEqual("red ball bouncing", caption);
        var plain = Generate("red ball bouncing", "-o", PathFor("plain.mp4"), "--frames", "1", "--seed", "9", "--no-expand");
        Assert.Equal("red ball bouncing", plain.GetProperty("caption").GetString());
        var unknown = ReelProcess.Run("generate", "a zebra ball", "-o", PathFor("zebra.mp4"), "--config", "test", "--frames", "1", "--json");
        Assert.Equal(0, unknown.ExitCode);
        Assert.Contains("zebra", unknown.Stderr);
        Assert.Equal("zebra", JsonDocument.Parse(unknown.Stdout).RootElement.GetProperty("unknownWords")[0].GetString());
    }

    [Fact]
    public async Task The_shipped_tiny_weights_are_the_default_and_make_a_clip_of_the_prompts_colour()
    {
        var shipped = Path.Combine(TestModels.RepositoryRoot(), "models", "tiny");
        Assert.True(new DirectoryInfo(shipped).EnumerateFiles().Sum(f => f.Length) <= 40_000_000);
        var output = PathFor("shipped.mp4");
        var run = ReelProcess.Run("generate", "a red ball slides to the right", "-o", output, "--seed", "1", "--threads", "2", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.DoesNotContain("untrained", run.Stderr);
        var json = JsonDocument.Parse(run.Stdout).RootElement;
        Assert.Equal(Reel.Model.WeightsFolder.ContentHash(shipped), json.GetProperty("weights").GetString());
        var frames = await MediaReader.ReadVideoAsync(output, 48, 48, 8);
        var expected = new Reel.World.SceneSpec([new Reel.World.ObjectSpec(Colour: Reel.World.Colour.Red)]);
        Assert.Equal(100, Reel.World.ClipEvaluation.Score(Reel.World.Tracker.Track(frames), expected, 8, []).Colour);
    }

    [Fact]
    public async Task Every_mode_given_a_red_disc_and_a_colourless_prompt_captions_and_continues_a_red_disc()
    {
        World.SceneSpec Disc(World.Motion motion) => new([new World.ObjectSpec(World.Shape.Disc, World.Colour.Red, World.ObjectSize.Large, motion)], false);
        var (a, b, still) = (PathFor("red-a.mp4"), PathFor("red-b.mp4"), PathFor("red.png"));
        var clipA = World.ProceduralWorld.Render(Disc(World.Motion.Right), 3, 48, 48, 17, 8);
        await MediaWriter.WriteMp4Async(a, clipA.Frames, 8);
        await MediaWriter.WriteMp4Async(b, World.ProceduralWorld.Render(Disc(World.Motion.Left), 4, 48, 48, 17, 8).Frames, 8);
        await MediaWriter.WriteImageAsync(still, clipA.Frames[0]);
        const int source = 17;
        // Each mode, and which of its output frames are new (the rest are the inputs' own).
        var modes = new (string Name, string[] Args, Func<int, Range> New)[]
        {
            ("image", ["it starts sliding to the left", "--image", still], n => 1..n),
            ("loop", ["round it goes", "--loop", "--image", still], n => 0..n),
            ("extend", ["it keeps going", "--extend", a], n => source..n),
            ("extend backward", ["it was moving before", "--extend", a, "--backward"], n => 0..(n - source)),
            ("connect", ["it moves on", "--connect", a, b], n => source..(n - source)),
            ("edit", ["now it moves", "--edit", a], n => 0..n),
        };
        var red = new World.SceneSpec([new World.ObjectSpec(Colour: World.Colour.Red)]);
        foreach (var (name, args, newFrames) in modes)
        {
            var output = PathFor($"{name}.mp4");
            var run = ReelProcess.Run(["generate", .. args, "-o", output, "--seed", "1", "--threads", "2", "--json"]);
            Assert.True(run.ExitCode == 0, $"{name}: {run.Stderr}");
            var caption = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("caption").GetString()!;
            var said = World.CaptionParser.Parse(caption).Spec.Objects;
            Assert.True(said.Count == 1 && said[0] is { Colour: World.Colour.Red, Shape: World.Shape.Disc }, $"{name}: caption \"{caption}\"");
            // The prompt's own motion survives the expansion.
            if (name == "image") Assert.Equal(World.Motion.Left, said[0].Motion);
            var frames = await MediaReader.ReadVideoAsync(output, 48, 48, 8);
            var made = frames.Take(newFrames(frames.Count)).ToArray();
            Assert.True(made.Length >= 4, $"{name}: {made.Length} new frames");
            var colour = World.ClipEvaluation.Score(World.Tracker.Track(made), red, 8, []).Colour;
            Assert.True(colour == 100, $"{name}: the new frames do not hold a red object (caption \"{caption}\")");
        }
    }

    [Fact]
    public void Without_trained_weights_it_says_so_on_stderr()
    {
        var run = ReelProcess.Run("generate", "a ball", "-o", PathFor("fresh.mp4"), "--config", "test", "--frames", "1");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("freshly initialised (untrained)", run.Stderr);
        Assert.Matches(@"seed \d+", run.Stdout); // chosen and printed
    }

    public static TheoryData<string, string[]> BadInputs => new()
    {
        { "not a multiple of 8", ["--size", "36x32"] },
        { "is not WxH", ["--size", "wide"] },
        { "nearest valid counts are 5 and 9", ["--frames", "6"] },
        { "Seconds must be more than 0", ["--seconds", "0"] },
        { "Seconds must be more than 0", ["--seconds", "-3"] },
        { "at most 20", ["--seconds", "100000"] },
        { "not both", ["--frames", "5", "--seconds", "1"] },
        { "no such file", ["--image", "/nonexistent/picture.png"] },
        { "no such file", ["--extend", "/nonexistent/clip.mp4"] },
        { "not an image and an edit", ["--image", "a.png", "--edit", "b.mp4"] },
        { "Only an extension can go backward", ["--backward"] },
        { "Strength applies to edits", ["--strength", "0.5"] },
        { "must end in .png", ["--thumbnail", "thumb.bmp"] },
        { "Unrecognized command or argument '--bogus'", ["--bogus"] },
        { "float16 is not supported", ["--dtype", "float16"] },
        { "CUDA is not available", ["--device", "cuda"] },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_ends_with_one_line_a_non_zero_exit_and_no_output(string message, string[] args)
    {
        var output = PathFor("never.mp4");
        var run = ReelProcess.Run(["generate", "a ball", "-o", output, "--config", "test", .. args]);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(message, run.Stderr);
        Assert.Single(run.Stderr.Trim().Split('\n'));
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public async Task Unreadable_inputs_empty_prompts_and_mismatched_weights_are_refused_without_output()
    {
        var output = PathFor("never.mp4");
        var fake = PathFor("fake.png");
        await File.WriteAllTextAsync(fake, "this is text");
        var weights = Path.Combine(_folder, "weights");
        using (var model = TestModels.Active()) model.Save(weights);
        foreach (var (message, args) in new (string, string[])[]
                 {
                     ("not a readable PNG", ["a ball", "--image", fake]),
                     ("prompt is empty", ["  "]),
                     ("contradicts", ["a ball", "--weights", weights, "--config", "tiny"]),
                     ("An edit keeps its source's length", ["a ball", "--edit", fake, "--seconds", "1"]),
                 })
        {
            var run = ReelProcess.Run(["generate", .. args, "-o", output, .. args.Contains("--config") ? Array.Empty<string>() : ["--config", "test"]]);
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains(message, run.Stderr);
            Assert.False(File.Exists(output));
        }
    }
}
