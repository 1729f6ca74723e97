using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Reel.Abstractions;
using Reel.Grains;
using Reel.Inference;
using Reel.Media;
using Reel.Model;
using Reel.Storage;

namespace Reel.Tests;

/// <summary>Sessions on a real in-process cluster (see <see cref="ClusterFixture"/>); the tests of this class run one after another.</summary>
public sealed class ClusterTests(ClusterFixture cluster) : IClassFixture<ClusterFixture>
{
    private const string Tenant = "acme";
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private static VideoRequest Request(int frames, ulong seed = 5) => new()
    {
        Prompt = "a red ball moves left", Width = 32, Height = 32, Frames = frames, Seed = seed,
    };

    [Fact]
    public async Task A_pool_whose_silos_are_gone_still_knows_what_its_weights_serve()
    {
        var pool = cluster.Cluster.Client.GetGrain<IPoolGrain>("scaled-to-zero");
        Assert.Null(await pool.Served());
        // A silo that is not (or no longer) a member reports once: its load is not live, its description is kept.
        var gone = SiloAddress.New(System.Net.IPAddress.Loopback, 1, 1);
        var model = new ServedModel("test", ["32x32"], 8, 8, 20, [1, 2, 4]);
        await pool.Report(new SiloLoad(gone, "scaled-to-zero", WeightsFolder.ContentHash(cluster.WeightsA), 1, [], false, DateTimeOffset.UtcNow, model));
        Assert.Empty(await pool.Loads());
        var served = await pool.Served();
        Assert.NotNull(served);
        Assert.Equal(["32x32"], served.Sizes);
        Assert.Equal([1.0, 2.0, 4.0], served.Durations);
    }

    [Fact]
    public async Task Sessions_run_only_on_model_silos_of_their_pool_holding_their_weights()
    {
        var a = await cluster.Sessions.CreateAsync(Tenant, ReelClusterFixture.Pool, Request(9), cluster.VersionA);
        var b = await cluster.Sessions.CreateAsync(Tenant, ReelClusterFixture.Pool, Request(9), cluster.VersionB);
        var newest = await cluster.Sessions.CreateAsync(Tenant, ReelClusterFixture.Pool, Request(9));

        var doneA = await cluster.WaitFor(a.Key, s => s.IsFinished, Minute);
        var doneB = await cluster.WaitFor(b.Key, s => s.IsFinished, Minute);
        var doneNewest = await cluster.WaitFor(newest.Key, s => s.IsFinished, Minute);

        Assert.All(new[] { doneA, doneB, doneNewest }, s => Assert.Equal(SessionStatus.Completed, s.Status));
        Assert.Equal(cluster.SiloA.ToString(), doneA.Silo);
        Assert.Contains(doneB.Silo, cluster.SilosB.Select(s => s.ToString()));
        Assert.Equal(WeightsFolder.ContentHash(cluster.WeightsB), doneB.WeightsHash);
        Assert.Contains(newest.Key.Weights, new[] { cluster.VersionA, cluster.VersionB });
        // A key nobody created still activates only where its pool and weights say, and answers that it does not exist.
        Assert.Null(await cluster.Sessions.GetAsync(SessionKey.New(Tenant, ReelClusterFixture.Pool, cluster.VersionB)));

        var management = cluster.Cluster.Client.GetGrain<IManagementGrain>(0);
        var hosts = (await management.GetDetailedGrainStatistics())
            .Where(g => g.GrainType.Contains(nameof(GenerationSessionGrain))).Select(g => g.SiloAddress).ToHashSet();
        Assert.NotEmpty(hosts);
        Assert.DoesNotContain(cluster.PlainSilo, hosts);

        // Each model silo owns its model host; the plain silo has none.
        Assert.NotSame(ModelHostOf(cluster.SiloA), ModelHostOf(cluster.SilosB[0]));
        Assert.Null(cluster.Cluster.GetSiloServiceProvider(cluster.PlainSilo).GetService<ModelHost>());

        var metadata = cluster.Cluster.GetSiloServiceProvider(cluster.PlainSilo).GetRequiredService<ISiloMetadataCache>();
        Assert.Equal(SiloMetadataKeys.PlainRole, metadata.GetSiloMetadata(cluster.PlainSilo).Metadata[SiloMetadataKeys.Role]);
        var siloB = metadata.GetSiloMetadata(cluster.SilosB[0]).Metadata;
        Assert.Equal(SiloMetadataKeys.ModelRole, siloB[SiloMetadataKeys.Role]);
        Assert.Equal(ReelClusterFixture.Pool, siloB[SiloMetadataKeys.Pool]);
        Assert.Equal(WeightsFolder.ContentHash(cluster.WeightsB), siloB[SiloMetadataKeys.Weights]);
    }

    [Fact]
    public async Task A_session_whose_pool_has_no_silo_stays_queued_and_can_be_cancelled()
    {
        var session = await cluster.Sessions.CreateAsync(Tenant, "beta", Request(9));
        Assert.Equal(SessionStatus.Queued, session.Status);
        Assert.Equal(1, session.QueuePosition);
        Assert.Equal(WeightsVersion.Latest, session.Key.Weights);

        // Several load reports later it still waits: no silo of its pool exists.
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.Equal(SessionStatus.Queued, (await cluster.Sessions.GetAsync(session.Key))!.Status);
        // Placement reads pool and weights from the key: neither this session nor one with weights no silo holds can activate.
        await Assert.ThrowsAsync<NoModelSiloException>(() =>
            cluster.Cluster.Client.GetGrain<IGenerationSessionGrain>(session.Key.ToString()).Resume());
        await Assert.ThrowsAsync<NoModelSiloException>(() =>
            cluster.Cluster.Client.GetGrain<IGenerationSessionGrain>(SessionKey.New(Tenant, ReelClusterFixture.Pool, "0123456789abcdef").ToString()).Resume());

        var cancelled = await cluster.Sessions.CancelAsync(session.Key);
        Assert.Equal(SessionStatus.Cancelled, cancelled!.Status);
        Assert.Equal(SessionStatus.Cancelled, (await cluster.Sessions.GetAsync(session.Key))!.Status);
    }

    [Fact]
    public async Task A_listed_video_whose_last_update_was_lost_is_listed_as_its_record_says()
    {
        const string tenant = "lost-update";
        var video = await cluster.Sessions.CreateAsync(tenant, "beta", Request(9));
        await cluster.Sessions.CancelAsync(video.Key);
        var list = cluster.Cluster.Client.GetGrain<ITenantVideosGrain>(tenant);
        await ReelClusterFixture.Until(async () => (await list.Page(null, 10, false)).Videos.Single().Status == SessionStatus.Cancelled, Minute);
        // The record's end never reached the list (the update is one-way: a store outage or a silo's death loses it).
        await list.Remove(video.Key.Session);
        await list.Update(video);

        var listed = Assert.Single((await cluster.Sessions.ListAsync(tenant, null, 10, false)).Videos);
        Assert.Equal(SessionStatus.Cancelled, listed.Status);
    }

    [Fact]
    public async Task Admission_with_one_slot_queues_the_second_session_and_reports_its_position()
    {
        // 40 slowed steps (12 s): the first still runs, however loaded the machine, while the second's place is read.
        var first = await cluster.Sessions.CreateAsync(Tenant, ReelClusterFixture.Pool, Request(9) with { Steps = 40 }, cluster.VersionA);
        await cluster.WaitFor(first.Key, s => s.Status == SessionStatus.InProgress, Minute);

        var second = await cluster.Sessions.CreateAsync(Tenant, ReelClusterFixture.Pool, Request(9, seed: 6), cluster.VersionA);
        Assert.Equal(SessionStatus.Queued, second.Status);
        Assert.Equal(1, second.QueuePosition);
        Assert.Equal(1, (await cluster.Sessions.GetAsync(second.Key))!.QueuePosition);

        Assert.Equal(SessionStatus.Completed, (await cluster.WaitFor(first.Key, s => s.IsFinished, Minute)).Status);
        var done = await cluster.WaitFor(second.Key, s => s.IsFinished, Minute);
        Assert.Equal(SessionStatus.Completed, done.Status);
        Assert.Equal(cluster.SiloA.ToString(), done.Silo);
    }

    [Fact]
    public async Task Status_watch_and_cancel_answer_while_a_chunk_runs()
    {
        var session = await cluster.Sessions.CreateAsync(Tenant, ReelClusterFixture.Pool, Request(25), cluster.VersionA);
        // A denoising step has reported: chunk 1 of 3 is running on the slowed silo.
        await cluster.WaitFor(session.Key, s => s.Status == SessionStatus.InProgress && s.Progress > 0, Minute);

        var status = (await cluster.Sessions.GetAsync(session.Key))!;
        Assert.Equal(SessionStatus.InProgress, status.Status);
        Assert.Equal(3, status.Chunks);
        Assert.True(status.CommittedChunks < status.Chunks);

        var watched = (await cluster.Sessions.WatchAsync(session.Key, status.Seq, TimeSpan.FromSeconds(10)))!;
        Assert.NotEmpty(watched.Events);
        Assert.All(watched.Events, e => Assert.True(e.Seq > status.Seq));
        Assert.Contains(watched.Events, e => e.Message.Contains("step"));
        Assert.Equal(SessionStatus.InProgress, watched.Snapshot.Status);

        var cancelled = (await cluster.Sessions.CancelAsync(session.Key))!;
        Assert.Equal(SessionStatus.Cancelled, cancelled.Status);
        Assert.True(cancelled.CommittedChunks < 3);
        Assert.Equal(SessionStatus.Cancelled, (await cluster.Sessions.GetAsync(session.Key))!.Status);
        Assert.Empty(await BlobArtifactStore.Connect(cluster.Azurite.ConnectionString).ListAsync(SessionArtifacts.Folder(session.Key)));
    }

    [Fact]
    public async Task A_three_chunk_video_moved_after_every_chunk_completes_with_artifacts_in_Azurite_and_equals_reel_generate()
    {
        var request = Request(25, seed: 77) with { Prompt = "a blue square slides right" };
        var session = await cluster.Sessions.CreateAsync(Tenant, ReelClusterFixture.Pool, request, cluster.VersionB);
        var done = await cluster.WaitFor(session.Key, s => s.IsFinished, TimeSpan.FromMinutes(3));
        Assert.Equal(SessionStatus.Completed, done.Status);
        Assert.Equal(3, done.CommittedChunks);
        // The always policy moved it after every commit, between the two silos holding weights B.
        Assert.Equal(3, done.ChunkSilos.Count);
        Assert.All(done.ChunkSilos, s => Assert.Contains(s, cluster.SilosB.Select(b => b.ToString())));
        Assert.NotEqual(done.ChunkSilos[0], done.ChunkSilos[1]);
        Assert.NotEqual(done.ChunkSilos[1], done.ChunkSilos[2]);
        Assert.Contains(cluster.Redis.Keys(), k => k.Contains(session.Key.Session));

        var store = BlobArtifactStore.Connect(cluster.Azurite.ConnectionString);
        var names = (await store.ListAsync(SessionArtifacts.Folder(session.Key))).Select(n => n.Value).ToArray();
        Assert.Equal(
            new[] { SessionArtifacts.Latents(session.Key), SessionArtifacts.Spritesheet(session.Key), SessionArtifacts.Thumbnail(session.Key), SessionArtifacts.Video(session.Key) }
                .Select(n => n.Value).Order(StringComparer.Ordinal),
            names);

        var folder = TestModels.TempFolder();
        var clusterVideo = Path.Combine(folder, "cluster.mp4");
        await Download(store, SessionArtifacts.Video(session.Key), clusterVideo);
        var latentsPath = Path.Combine(folder, "latents.safetensors");
        await Download(store, SessionArtifacts.Latents(session.Key), latentsPath);
        using var latents = LatentsFile.FromBytes(await File.ReadAllBytesAsync(latentsPath));

        var cliVideo = Path.Combine(folder, "cli.mp4");
        var cli = ReelProcess.Run("generate", request.Prompt, "--weights", cluster.WeightsB, "--threads", "1", "--seed", "77",
            "--frames", "25", "--size", "32x32", "--json", "-o", cliVideo);
        Assert.True(cli.ExitCode == 0, cli.Stderr);
        using var report = JsonDocument.Parse(cli.Stdout);
        Assert.Equal(report.RootElement.GetProperty("latentSha256").GetString(), LatentDigest.Of(latents));
        Assert.Equal(ReelClusterFixture.ReferenceDigest(cluster.WeightsB, request), LatentDigest.Of(latents));
        Assert.Equal(done.Caption, report.RootElement.GetProperty("caption").GetString());

        var expected = await MediaReader.ReadVideoAsync(cliVideo, 32, 32, 8);
        var actual = await MediaReader.ReadVideoAsync(clusterVideo, 32, 32, 8);
        Assert.Equal(25, actual.Count);
        Assert.Equal(expected.Select(f => f.Pixels), actual.Select(f => f.Pixels));
    }

    private ModelHost ModelHostOf(SiloAddress silo) => cluster.Cluster.GetSiloServiceProvider(silo).GetRequiredService<ModelHost>();

    private static async Task Download(IArtifactStore store, ArtifactName name, string path)
    {
        await using var stream = await store.OpenReadAsync(name) ?? throw new FileNotFoundException(name.Value);
        await using var file = File.Create(path);
        await stream.CopyToAsync(file);
    }
}
