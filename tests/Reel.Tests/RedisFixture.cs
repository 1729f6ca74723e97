using System.Diagnostics;

namespace Reel.Tests;

/// <summary>
/// A real redis-server on a free loopback port for the tests of one class; stopped afterwards. Its data lives in an
/// append-only file of its own folder, so an outage (<see cref="Stop"/>, then <see cref="Start"/>) keeps it, as a
/// restarted production Redis with AOF does.
/// </summary>
public sealed class RedisFixture : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reel-redis-").FullName;
    private Process? _process;

    public RedisFixture()
    {
        Port = AzuriteFixture.FreePort();
        Start();
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Starts the server (again) on its port, from the data it kept.</summary>
    public void Start()
    {
        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", _folder })
            start.ArgumentList.Add(arg);
        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start: run the tests through ./test.sh.");
        AzuriteFixture.WaitUntilListening(_process, Port, "redis-server");
    }

    /// <summary>Stops the server as an operator does (SHUTDOWN: the append-only file is flushed); clients see it gone.</summary>
    public void Stop()
    {
        Cli("shutdown");
        _process!.WaitForExit();
        _process.Dispose();
        _process = null;
    }

    /// <summary>The keys Redis holds, read with redis-cli.</summary>
    public IReadOnlyList<string> Keys() => Cli("--scan").Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private string Cli(params string[] args)
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true };
        foreach (var arg in new[] { "-p", Port.ToString() }.Concat(args)) start.ArgumentList.Add(arg);
        using var cli = Process.Start(start)!;
        var output = cli.StandardOutput.ReadToEnd();
        cli.WaitForExit();
        return output;
    }

    public void Dispose()
    {
        if (_process is { } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            process.Dispose();
        }
        Directory.Delete(_folder, recursive: true);
    }
}
