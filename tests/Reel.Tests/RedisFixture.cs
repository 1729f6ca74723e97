using System.Diagnostics;

namespace Reel.Tests;

/// <summary>A real redis-server on a free loopback port, without persistence, for the tests of one class; stopped afterwards.</summary>
public sealed class RedisFixture : IDisposable
{
    private readonly Process _process;

    public RedisFixture()
    {
        Port = AzuriteFixture.FreePort();
        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
            start.ArgumentList.Add(arg);
        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start: run the tests through ./test.sh.");
        AzuriteFixture.WaitUntilListening(_process, Port, "redis-server");
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>The keys Redis holds, read with redis-cli.</summary>
    public IReadOnlyList<string> Keys()
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true };
        foreach (var arg in new[] { "-p", Port.ToString(), "--scan" }) start.ArgumentList.Add(arg);
        using var cli = Process.Start(start)!;
        var output = cli.StandardOutput.ReadToEnd();
        cli.WaitForExit();
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public void Dispose()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
        _process.Dispose();
    }
}
