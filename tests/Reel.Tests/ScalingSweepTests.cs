using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json;
using Reel.Training;

namespace Reel.Tests;

public class ScalingSweepTests
{
    /// <summary>Saved weights of the test configuration: the sweep takes its VAE from them and measures them too.</summary>
    private static readonly Lazy<string> Weights = new(() =>
    {
        var folder = TestModels.TempFolder();
        using var model = TestModels.Active(seed: 3);
        model.Save(folder);
        return folder;
    });

    private static string[] Args(string folder, params string[] more) =>
        ["scaling", "--weights", Weights.Value, "--out", folder, "--threads", "1", "--eval-cases", "2", .. more];

    /// <summary>runs.csv without the wall-time column, which is the only thing a rerun may change.</summary>
    private static string[] Runs(string folder) =>
        File.ReadAllLines(Path.Combine(folder, ScalingSweep.RunsFile)).Select(l => string.Join(',', l.Split(',').Where((_, i) => i != 6))).ToArray();

    [Fact]
    public void The_sweep_fits_predicts_before_the_held_out_run_plots_and_a_killed_sweep_resumes_to_the_same_runs()
    {
        var (straight, killed) = (TestModels.TempFolder(), TestModels.TempFolder());
        var run = ReelProcess.Run(Args(straight));
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("L(C) =", run.Stdout);

        var runs = Runs(straight);
        Assert.Equal(1 + 4 * 3 + 1, runs.Length);
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(straight, "scaling.json")));
        var root = report.RootElement;
        var parameters = root.GetProperty("runs").EnumerateArray().Where(r => !r.GetProperty("heldOut").GetBoolean()).Select(r => r.GetProperty("parameters").GetInt64()).ToList();
        Assert.True(parameters.Max() >= 10 * parameters.Min(), string.Join(", ", parameters));
        var law = root.GetProperty("law");
        Assert.True(law.GetProperty("a").GetDouble() > 0 && law.GetProperty("b").GetDouble() > 0 && law.GetProperty("c").GetDouble() >= 0);
        Assert.InRange(law.GetProperty("rSquared").GetDouble(), 0, 1);
        Assert.Equal(3, root.GetProperty("optimalSizes").GetArrayLength());
        Assert.True(root.GetProperty("heldOut").GetProperty("heldOut").GetBoolean());
        using var prediction = JsonDocument.Parse(File.ReadAllText(Path.Combine(straight, "prediction.json")));
        Assert.Equal(prediction.RootElement.GetProperty("loss").GetDouble(), root.GetProperty("predictedLoss").GetDouble());
        // The frontier at three budgets, the held-out run, and the weights the sweep ran on (no budget).
        Assert.All(root.GetProperty("adherence").EnumerateArray(), p => Assert.Equal(2, p.GetProperty("clips").GetInt32()));
        Assert.Equal(5, root.GetProperty("adherence").GetArrayLength());
        Assert.Single(root.GetProperty("adherence").EnumerateArray(), p => p.GetProperty("budget").ValueKind == JsonValueKind.Null);

        var png = File.ReadAllBytes(Path.Combine(straight, "scaling.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Assert.Equal(1200, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));

        // Killed without warning in the middle of the sweep, then run again: the same runs, bit for bit.
        using (var process = Process.Start(ReelProcess.StartInfo(Args(killed)))!)
        {
            var csv = Path.Combine(killed, ScalingSweep.RunsFile);
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (DateTime.UtcNow < deadline && !(File.Exists(csv) && File.ReadAllLines(csv).Length >= 5)) Thread.Sleep(20);
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        Assert.InRange(File.ReadAllLines(Path.Combine(killed, ScalingSweep.RunsFile)).Length, 5, runs.Length - 1);
        var resumed = ReelProcess.Run(Args(killed));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(runs, Runs(killed));

        var again = ReelProcess.Run(Args(killed));
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.DoesNotContain("steps, validation loss", again.Stderr);
    }

    [Theory]
    [InlineData("--budgets", "1e9,2e9", "at least two sizes and three budgets")]
    [InlineData("--held-out", "64x2@1e8", "larger budget than every run")]
    [InlineData("--sizes", "wide", "is not WIDTHxDEPTH")]
    [InlineData("--budgets", "1e9,x,3e9", "'x' is not a positive number of FLOPs")]
    public void Bad_sweep_flags_are_refused_with_a_message(string flag, string value, string message)
    {
        var run = ReelProcess.Run(Args(TestModels.TempFolder(), flag, value));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains(message, run.Stderr);
        Assert.Single(run.Stderr.Trim().Split('\n'), l => l.StartsWith("reel:"));
    }
}
