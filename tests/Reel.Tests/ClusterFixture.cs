using Microsoft.Extensions.Logging;
using Orleans.TestingHost;
using Reel.Abstractions;
using Reel.Hosting;
using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Tests;

/// <summary>
/// An in-process cluster of three silos with grain state in a real Redis and artifacts in a real Azurite:
/// Silo_0 is plain; Silo_1 is a model silo of pool "alpha" with weights A and a slowed denoising step (so tests can act
/// while a chunk runs), one session at a time; Silo_2 is a model silo of "alpha" with weights B at full speed.
/// One torch thread for all silos (the thread count is per process).
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string Pool = "alpha";
    public static readonly TimeSpan SlowStep = TimeSpan.FromMilliseconds(300);

    public RedisFixture Redis { get; } = new();
    public AzuriteFixture Azurite { get; } = new();
    public string WeightsA { get; } = SaveWeights(1);
    public string WeightsB { get; } = SaveWeights(2);
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public ReelSessions Sessions => new(Cluster.Client);
    public SiloAddress PlainSilo => SiloNamed("Silo_0");
    public SiloAddress SiloA => SiloNamed("Silo_1");
    public SiloAddress SiloB => SiloNamed("Silo_2");
    public string VersionA => WeightsVersion.Of(WeightsFolder.ContentHash(WeightsA));
    public string VersionB => WeightsVersion.Of(WeightsFolder.ContentHash(WeightsB));

    public async Task InitializeAsync()
    {
        set_num_threads(1);
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((silo, siloBuilder) => siloBuilder.AddReel(new ReelSiloOptions
        {
            Model = silo.SiloName != "Silo_0",
            Pool = Pool,
            Weights = silo.SiloName == "Silo_1" ? WeightsA : WeightsB,
            StepDelay = silo.SiloName == "Silo_1" ? SlowStep : TimeSpan.Zero,
            Threads = 1,
            MaxSessions = silo.SiloName == "Silo_1" ? 1 : 4,
            Redis = Redis.ConnectionString,
            Blob = Azurite.ConnectionString,
        }));
        if (Environment.GetEnvironmentVariable("REEL_TEST_LOGS") is { Length: > 0 })
            builder.ConfigureSiloHost((_, host) => host.Logging.AddConsole().SetMinimumLevel(LogLevel.Information).AddFilter("Orleans", LogLevel.Warning));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        // Admission needs each model silo's first load report.
        var pool = Cluster.Client.GetGrain<IPoolGrain>(Pool);
        await Until(async () => (await pool.Loads()).Count == 2, TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Redis.Dispose();
        Azurite.Dispose();
        set_num_threads(2);
    }

    /// <summary>Watches a session until <paramref name="done"/> holds for it.</summary>
    public async Task<SessionSnapshot> WaitFor(SessionKey key, Func<SessionSnapshot, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        long seq = 0;
        while (DateTime.UtcNow < deadline)
        {
            var watched = await Sessions.WatchAsync(key, seq, TimeSpan.FromSeconds(2)) ?? throw new InvalidOperationException($"Session {key} is gone.");
            if (done(watched.Snapshot)) return watched.Snapshot;
            seq = watched.Snapshot.Seq;
            if (watched.Snapshot.Status == SessionStatus.Queued) await Task.Delay(200);
        }
        throw new TimeoutException($"Session {key} did not get there in {timeout}: {await Sessions.GetAsync(key)}");
    }

    public static async Task Until(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Condition not met in {timeout}.");
            await Task.Delay(100);
        }
    }

    private SiloAddress SiloNamed(string name) => Cluster.Silos.Single(s => s.Name == name).SiloAddress;

    private static string SaveWeights(ulong seed)
    {
        var folder = TestModels.TempFolder();
        using var model = TestModels.Active(seed);
        model.Save(folder);
        return folder;
    }
}
