using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.TestingHost;
using Reel.Abstractions;
using Reel.Grains;
using Reel.Hosting;
using Reel.Model;
using Reel.Requests;
using static TorchSharp.torch;

namespace Reel.Tests;

/// <summary>
/// An in-process cluster with grain state and reminders in a real Redis and artifacts in a real Azurite; silo 0 is a
/// plain silo, the others are model silos of pool "alpha" as <see cref="ModelSilo"/> says. One torch thread for all
/// silos (the thread count is per process).
/// </summary>
public abstract class ReelClusterFixture(short silos) : IAsyncLifetime
{
    public const string Pool = "alpha";

    public RedisFixture Redis { get; } = new();
    public AzuriteFixture Azurite { get; } = new();
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public ReelSessions Sessions => new(Cluster.Client);
    public SiloAddress PlainSilo => SiloNamed("Silo_0");

    /// <summary>The model silo options of silo <paramref name="index"/> (1 and up), before storage is added.</summary>
    protected abstract ReelSiloOptions ModelSilo(int index);

    protected virtual void Configure(ISiloBuilder silo)
    {
    }

    public async Task InitializeAsync()
    {
        set_num_threads(1);
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((silo, siloBuilder) =>
        {
            var index = int.Parse(silo.SiloName["Silo_".Length..]);
            var options = index == 0 ? new ReelSiloOptions() : ModelSilo(index);
            options.Redis = Redis.ConnectionString;
            options.Blob = Azurite.ConnectionString;
            options.Threads = 1;
            siloBuilder.AddReel(options);
            Configure(siloBuilder);
        });
        if (Environment.GetEnvironmentVariable("REEL_TEST_LOGS") is { Length: > 0 })
            builder.ConfigureSiloHost((_, host) => host.Logging.AddConsole().SetMinimumLevel(LogLevel.Information).AddFilter("Orleans", LogLevel.Warning));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        // Admission needs each model silo's first load report.
        var pool = Cluster.Client.GetGrain<IPoolGrain>(Pool);
        await Until(async () => (await pool.Loads()).Count == silos - 1, TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Redis.Dispose();
        Azurite.Dispose();
        set_num_threads(2);
    }

    /// <summary>Watches a session until <paramref name="done"/> holds for it, riding out calls that fail during a failover.</summary>
    public async Task<SessionSnapshot> WaitFor(SessionKey key, Func<SessionSnapshot, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        long seq = 0;
        while (DateTime.UtcNow < deadline)
        {
            WatchResult? watched;
            try
            {
                watched = await Sessions.WatchAsync(key, seq, TimeSpan.FromSeconds(2));
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                await Task.Delay(200);
                continue;
            }
            if (watched is null) throw new InvalidOperationException($"Session {key} is gone.");
            if (done(watched.Snapshot)) return watched.Snapshot;
            // A new activation restarts its event numbering from the last commit: follow the snapshot, not the events.
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

    public SiloAddress SiloNamed(string name) => Cluster.Silos.Single(s => s.Name == name).SiloAddress;

    public static string SaveWeights(ulong seed)
    {
        var folder = TestModels.TempFolder();
        using var model = TestModels.Active(seed);
        model.Save(folder);
        return folder;
    }

    /// <summary>The latents a request gives in one process on one silo's weights: what every cluster path must equal.</summary>
    public static string ReferenceDigest(string weights, VideoRequest request)
    {
        using var model = ReelModel.Load(weights);
        using var latents = new VideoGenerator(model).GenerateLatents(RequestCompiler.Generation(request, model.Config));
        return LatentDigest.Of(latents);
    }
}

/// <summary>
/// Silo 1: weights A, a slowed denoising step (tests act while a chunk runs), one session at a time, sessions stay.
/// Silos 2 and 3: weights B at full speed, sessions move after every chunk (the always policy).
/// </summary>
public sealed class ClusterFixture() : ReelClusterFixture(4)
{
    public static readonly TimeSpan SlowStep = TimeSpan.FromMilliseconds(300);

    public string WeightsA { get; } = SaveWeights(1);
    public string WeightsB { get; } = SaveWeights(2);
    public SiloAddress SiloA => SiloNamed("Silo_1");
    public IReadOnlyList<SiloAddress> SilosB => [SiloNamed("Silo_2"), SiloNamed("Silo_3")];
    public string VersionA => WeightsVersion.Of(WeightsFolder.ContentHash(WeightsA));
    public string VersionB => WeightsVersion.Of(WeightsFolder.ContentHash(WeightsB));

    protected override ReelSiloOptions ModelSilo(int index) => index == 1
        ? new ReelSiloOptions { Model = true, Pool = Pool, Weights = WeightsA, MaxSessions = 1 }.SlowStepsForTests(SlowStep)
        : new ReelSiloOptions { Model = true, Pool = Pool, Weights = WeightsB, MaxSessions = 4, Migration = MigrationPolicy.Always };
}

/// <summary>Silos 1 and 2: the same weights, a slowed step so a kill lands mid-chunk, short membership timeouts.</summary>
public sealed class FailoverFixture() : ReelClusterFixture(3)
{
    public string Weights { get; } = SaveWeights(3);
    public string Version => WeightsVersion.Of(WeightsFolder.ContentHash(Weights));

    protected override ReelSiloOptions ModelSilo(int index) =>
        new ReelSiloOptions { Model = true, Pool = Pool, Weights = Weights, MaxSessions = 2 }.SlowStepsForTests(TimeSpan.FromMilliseconds(250));

    protected override void Configure(ISiloBuilder silo) => silo.Configure<ClusterMembershipOptions>(o =>
    {
        o.ProbeTimeout = TimeSpan.FromSeconds(1);
        o.NumMissedProbesLimit = 2;
        o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
    });
}
