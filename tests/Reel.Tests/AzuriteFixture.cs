using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Reel.Tests;

/// <summary>
/// A real Azurite blob service on a free loopback port for the tests of one class; stopped afterwards. test.sh installs
/// it and names it in REEL_AZURITE_BLOB. Its data lives in a folder of its own, so an outage (<see cref="Stop"/>, then
/// <see cref="Start"/> on the same port) keeps it, as a restarted blob service does.
/// </summary>
public sealed class AzuriteFixture : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reel-azurite-").FullName;
    private readonly string _executable;
    private Process? _process;

    public AzuriteFixture()
    {
        _executable = Environment.GetEnvironmentVariable("REEL_AZURITE_BLOB") is { Length: > 0 } configured ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reel", "tools", "node_modules", ".bin", "azurite-blob");
        if (!File.Exists(_executable)) throw new InvalidOperationException($"Azurite is not installed at {_executable}: run the tests through ./test.sh.");
        Port = FreePort();
        Start();
    }

    /// <summary>Starts the service (again) on its port, from the data it kept.</summary>
    public void Start()
    {
        var start = new ProcessStartInfo(_executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--location", _folder, "--disableTelemetry", "--silent" })
            start.ArgumentList.Add(arg);
        _process = Process.Start(start)!;
        WaitUntilListening(_process, Port, "Azurite");
    }

    /// <summary>
    /// Stops the service as an operator does (SIGTERM: Azurite closes its server and saves its metadata, which it
    /// otherwise writes only every few seconds); clients see it gone.
    /// </summary>
    public void Stop()
    {
        using (var term = Process.Start("kill", ["-TERM", $"{_process!.Id}"])!) term.WaitForExit();
        if (!_process.WaitForExit(TimeSpan.FromSeconds(30)))
            throw new InvalidOperationException("Azurite did not stop within 30 s of SIGTERM.");
        _process.Dispose();
        _process = null;
    }

    /// <summary>Waits up to 30 s for a server process to accept connections on its port.</summary>
    public static void WaitUntilListening(Process process, int port, string name)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Listening(port))
        {
            if (process.HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException($"{name} did not start: {process.StandardError.ReadToEnd()}");
            Thread.Sleep(100);
        }
    }

    public int Port { get; }

    /// <summary>The well-known development account on this instance's port.</summary>
    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;";

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
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
