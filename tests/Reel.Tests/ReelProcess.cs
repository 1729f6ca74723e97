using System.Diagnostics;

namespace Reel.Tests;

/// <summary>Runs the real `reel` program (built beside the tests) as a separate process.</summary>
public static class ReelProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>How to start `reel ARGS` with its output captured (callers may add environment variables).</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "reel.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        return start;
    }

    public static Result Run(params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"reel {string.Join(' ', args)} did not finish");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
