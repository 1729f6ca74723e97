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

    /// <summary>`reel tenants add NAME --file FILE [OPTIONS]`: the key it prints once.</summary>
    public static string AddTenant(string file, string name, params string[] options) => Run(["tenants", "add", name, "--file", file, .. options]).Stdout.Trim();

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
