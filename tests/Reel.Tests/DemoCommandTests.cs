using System.Text.Json;

namespace Reel.Tests;

public class DemoCommandTests
{
    [Fact]
    public void Demo_reports_shapes_chunks_and_timing_as_json()
    {
        var run = ReelProcess.Run("demo", "--config", "test", "--size", "48x32", "--seconds", "4", "--seed", "3", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var report = JsonDocument.Parse(run.Stdout).RootElement;
        Assert.Equal(33, report.GetProperty("frames").GetInt32());
        Assert.Equal([1, 4, 9, 8, 12], report.GetProperty("latentShape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal([33, 3, 32, 48], report.GetProperty("decodedShape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(4, report.GetProperty("chunks").GetInt32());
        Assert.Equal(4, report.GetProperty("chunkSeconds").GetArrayLength());
        Assert.Equal(3UL, report.GetProperty("seed").GetUInt64());
    }

    [Fact]
    public void Demo_chooses_and_prints_a_seed_when_none_is_given()
    {
        var run = ReelProcess.Run("demo", "--config", "test", "--frames", "1", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.True(JsonDocument.Parse(run.Stdout).RootElement.TryGetProperty("seed", out _));
    }

    [Theory]
    [InlineData("not a multiple of 8", "--size", "36x32")]
    [InlineData("is not WxH", "--size", "big")]
    [InlineData("nearest valid counts are 5 and 9", "--frames", "6")]
    [InlineData("not both", "--frames", "5", "--seconds", "1")]
    [InlineData("positive number of seconds", "--seconds", "-2")]
    [InlineData("float16 is not supported", "--dtype", "float16")]
    [InlineData("CUDA is not available", "--device", "cuda")]
    [InlineData("does not exist", "--weights", "/nonexistent/weights")]
    [InlineData("Unknown configuration 'huge'", "--config", "huge")]
    [InlineData("--threads must be at least 1", "--threads", "0")]
    public void Bad_input_exits_non_zero_with_a_message_and_no_stack_trace(string message, params string[] args)
    {
        var run = ReelProcess.Run(["demo", "--config", "test", .. args]);
        if (args.Contains("--config")) run = ReelProcess.Run(["demo", .. args]);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(message, run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr);
    }
}
