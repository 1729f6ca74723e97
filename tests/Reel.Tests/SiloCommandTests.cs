using Reel.Cli;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Reel.Abstractions;
using Reel.Grains;
using Reel.Model;
using Reel.Storage;

namespace Reel.Tests;

/// <summary>`reel serve` and `reel silo` as separate processes.</summary>
public sealed class SiloCommandTests
{
    [Fact]
    public async Task Serve_is_one_process_that_makes_a_video_into_its_artifacts_folder()
    {
        var artifacts = TestModels.TempFolder();
        using var serve = ReelServer.Start(["serve", "--artifacts", artifacts, "--state", TestModels.TempFolder()]);
        await serve.HealthyAsync();
        await using var client = await ReelClient.ConnectAsync(c => c.UseLocalhostClustering(serve.GatewayPort));
        var created = await client.Sessions.CreateAsync("acme", "default", new VideoRequest { Prompt = "a red ball", Width = 32, Height = 32, Frames = 9, Seed = 3 });
        var done = await client.WaitFor(created.Key, s => s.IsFinished, serve);
        Assert.Equal(SessionStatus.Completed, done.Status);
        Assert.True(new FileInfo(Path.Combine(artifacts, SessionArtifacts.Video(created.Key).Value)).Length > 0);
    }

    [Fact]
    public async Task Serve_with_dtype_auto_says_which_dtype_it_measured_faster_and_batches_two_sessions()
    {
        using var serve = ReelServer.Start(["serve", "--artifacts", TestModels.TempFolder(), "--state", TestModels.TempFolder(), "--dtype", "auto", "--max-sessions", "2"]);
        await serve.HealthyAsync();
        using var web = new HttpClient();
        var health = JsonDocument.Parse(await web.GetStringAsync($"http://127.0.0.1:{serve.HttpPort}/healthz")).RootElement;
        Assert.Contains(health.GetProperty("dtype").GetString(), new[] { "float32", "bfloat16" });
        await using var client = await ReelClient.ConnectAsync(c => c.UseLocalhostClustering(serve.GatewayPort));
        var created = await Task.WhenAll(new ulong[] { 3, 4 }.Select(seed =>
            client.Sessions.CreateAsync("acme", "default", new VideoRequest { Prompt = "a red ball", Width = 32, Height = 32, Frames = 9, Seed = seed })));
        foreach (var session in created) Assert.Equal(SessionStatus.Completed, (await client.WaitFor(session.Key, s => s.IsFinished, serve)).Status);
    }

    [Fact]
    public async Task A_model_silo_joins_a_Redis_cluster_and_makes_a_video()
    {
        using var redis = new RedisFixture();
        var artifacts = TestModels.TempFolder();
        using var silo = ReelServer.Start(["silo", "--model", "--redis", redis.ConnectionString, "--advertise-ip", "127.0.0.1", "--artifacts", artifacts]);
        await silo.HealthyAsync();
        await using var client = await ReelClient.ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString));
        var created = await client.Sessions.CreateAsync("acme", "default", new VideoRequest { Prompt = "a red ball", Width = 32, Height = 32, Frames = 9, Seed = 3 });
        Assert.Equal(SessionStatus.Completed, (await client.WaitFor(created.Key, s => s.IsFinished, silo)).Status);
    }

    [Fact]
    public async Task Serve_killed_mid_session_and_started_again_finishes_it_with_identical_latents()
    {
        var (artifacts, state) = (TestModels.TempFolder(), TestModels.TempFolder());
        var request = new VideoRequest { Prompt = "a yellow circle rises", Width = 32, Height = 32, Frames = 25, Seed = 21 };
        string[] args = ["serve", "--artifacts", artifacts, "--state", state];
        SessionKey key;
        string firstSilo;
        using (var first = ReelServer.Start(args, slowSteps: true))
        {
            await first.HealthyAsync();
            await using var client = await ReelClient.ConnectAsync(c => c.UseLocalhostClustering(first.GatewayPort));
            key = (await client.Sessions.CreateAsync("acme", "default", request)).Key;
            // Inside the second chunk: one committed, a step of the next reported.
            firstSilo = (await client.WaitFor(key, s => s.CommittedChunks == 1 && s.Progress > 1.0 / 3, first)).Silo!;
            first.Kill();
        }
        using var second = ReelServer.Start(args);
        await second.HealthyAsync();
        await using var again = await ReelClient.ConnectAsync(c => c.UseLocalhostClustering(second.GatewayPort));
        var done = await again.WaitFor(key, s => s.IsFinished, second);
        Assert.Equal(SessionStatus.Completed, done.Status);
        Assert.Equal(firstSilo, done.ChunkSilos[0]);
        Assert.All(done.ChunkSilos.Skip(1), s => Assert.NotEqual(firstSilo, s));
        Assert.Equal(ReferenceDigest(request), FolderLatentsDigest(artifacts, key));
    }

    [Fact]
    public async Task Kill_9_of_the_model_silo_running_a_session_finishes_it_on_the_survivor_with_identical_latents()
    {
        using var redis = new RedisFixture();
        using var azurite = new AzuriteFixture();
        var request = new VideoRequest { Prompt = "a purple square falls", Width = 32, Height = 32, Frames = 25, Seed = 22 };
        string[] args = ["silo", "--model", "--redis", redis.ConnectionString, "--blob", azurite.ConnectionString, "--advertise-ip", "127.0.0.1"];
        using var one = ReelServer.Start(args, slowSteps: true);
        using var two = ReelServer.Start(args, slowSteps: true);
        await one.HealthyAsync();
        await two.HealthyAsync();
        await using var client = await ReelClient.ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString));
        var key = (await client.Sessions.CreateAsync("acme", "default", request)).Key;
        var running = await client.WaitFor(key, s => s.CommittedChunks == 1 && s.Progress > 1.0 / 3, one);
        var victim = running.Silo!.Contains($":{one.SiloPort}:") ? one : two;
        var survivor = victim == one ? two : one;
        victim.Kill();

        var done = await client.WaitFor(key, s => s.IsFinished, survivor);
        Assert.Equal(SessionStatus.Completed, done.Status);
        Assert.Equal(running.Silo, done.ChunkSilos[0]);
        Assert.All(done.ChunkSilos.Skip(1), s => Assert.Contains($":{survivor.SiloPort}:", s));
        Assert.Equal(ReferenceDigest(request), await BlobLatentsDigestAsync(azurite, key));
    }

    [Theory]
    [InlineData("sigterm")]
    [InlineData("reel drain")]
    public async Task A_draining_silo_commits_its_chunk_and_hands_the_session_on_with_identical_latents(string how)
    {
        using var redis = new RedisFixture();
        using var azurite = new AzuriteFixture();
        // 40 slowed steps a chunk (12 s): time for the second silo to start, and a drain that surely lands inside chunk 2.
        var request = new VideoRequest { Prompt = "a green circle rises", Width = 32, Height = 32, Frames = 25, Seed = 31, Steps = 40 };
        string[] args = ["silo", "--model", "--redis", redis.ConnectionString, "--blob", azurite.ConnectionString, "--advertise-ip", "127.0.0.1"];
        // The first silo alone takes the session; the second joins before the drain.
        using var drained = ReelServer.Start([.. args, "--drain-timeout", "00:01:00"], slowSteps: true);
        await drained.HealthyAsync();
        await using var client = await ReelClient.ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString));
        var key = (await client.Sessions.CreateAsync("acme", "default", request)).Key;
        using var other = ReelServer.Start(args, slowSteps: true);
        await other.HealthyAsync();
        var running = await client.WaitFor(key, s => s.CommittedChunks == 1 && s.Progress > 1.0 / 3 + 0.05, drained);
        Assert.Contains($":{drained.SiloPort}:", running.Silo);
        var chunkAtDrain = running.Chunk;

        if (how == "sigterm")
        {
            drained.Terminate();
        }
        else
        {
            var result = ReelProcess.Run("drain", "--port", $"{drained.ManagementPort}");
            Assert.True(result.ExitCode == 0, result.Stderr);
        }

        var done = await client.WaitFor(key, s => s.IsFinished, other);
        Assert.Equal(SessionStatus.Completed, done.Status);
        // The chunk running at the drain was committed where it ran, not redone; the rest ran on the other silo.
        Assert.Equal(done.Chunks, done.ChunkSilos.Count);
        Assert.All(done.ChunkSilos.Take(chunkAtDrain + 1), s => Assert.Contains($":{drained.SiloPort}:", s));
        Assert.All(done.ChunkSilos.Skip(chunkAtDrain + 1), s => Assert.Contains($":{other.SiloPort}:", s));
        Assert.Equal(ReferenceDigest(request), await BlobLatentsDigestAsync(azurite, key));

        if (how == "sigterm")
        {
            // The silo exits by itself once drained, well within the drain timeout.
            await ReelClient.Until(() => Task.FromResult(drained.HasExited), other);
            Assert.Equal(0, drained.ExitCode);
            return;
        }
        // Drained for maintenance: still up, and a new session goes elsewhere.
        Assert.False(drained.HasExited);
        var next = (await client.Sessions.CreateAsync("acme", "default", request with { Frames = 9 })).Key;
        var finished = await client.WaitFor(next, s => s.IsFinished, other);
        Assert.All(finished.ChunkSilos, s => Assert.Contains($":{other.SiloPort}:", s));
    }

    [Fact]
    public async Task A_session_drained_with_nowhere_to_go_runs_on_as_soon_as_a_slot_frees()
    {
        using var redis = new RedisFixture();
        using var azurite = new AzuriteFixture();
        // 40 slowed steps a chunk (12 s), three chunks: the other silo stays full well past the drain.
        var request = new VideoRequest { Prompt = "a blue disc falls", Width = 32, Height = 32, Frames = 25, Seed = 43, Steps = 40 };
        string[] args = ["silo", "--model", "--max-sessions", "1", "--redis", redis.ConnectionString, "--blob", azurite.ConnectionString, "--advertise-ip", "127.0.0.1"];
        using var drained = ReelServer.Start(args, slowSteps: true);
        await drained.HealthyAsync();
        await using var client = await ReelClient.ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString));
        var key = (await client.Sessions.CreateAsync("acme", "default", request)).Key;
        using var other = ReelServer.Start(args, slowSteps: true);
        await other.HealthyAsync();
        var busy = (await client.Sessions.CreateAsync("acme", "default", request with { Seed = 44 })).Key;
        await client.WaitFor(busy, s => s.Status == SessionStatus.InProgress && s.Silo?.Contains($":{other.SiloPort}:") == true, other);
        await client.WaitFor(key, s => s.CommittedChunks == 1 && s.Progress > 1.0 / 3 + 0.05, drained);

        var drain = ReelProcess.Run("drain", "--port", $"{drained.ManagementPort}");
        Assert.True(drain.ExitCode == 0, drain.Stderr);
        // Handed to the pool, not run on: the drained silo is empty while the other one is still busy.
        var waiting = await client.Sessions.GetAsync(key);
        Assert.Equal(SessionStatus.InProgress, waiting!.Status);
        Assert.False((await client.Sessions.GetAsync(busy))!.IsFinished, "the other silo freed too early for this test to tell");

        await client.WaitFor(busy, s => s.IsFinished, other);
        var freed = System.Diagnostics.Stopwatch.StartNew();
        await client.WaitFor(key, s => s.Silo?.Contains($":{other.SiloPort}:") == true && s.Progress > 2.0 / 3, other);
        Assert.True(freed.Elapsed < TimeSpan.FromSeconds(15), $"resumed {freed.Elapsed.TotalSeconds:0.0} s after the slot freed");
        var done = await client.WaitFor(key, s => s.IsFinished, other);
        Assert.Equal(SessionStatus.Completed, done.Status);
        Assert.Equal(ReferenceDigest(request), await BlobLatentsDigestAsync(azurite, key));
    }

    [Fact]
    public async Task A_Redis_outage_mid_video_delays_it_and_loses_nothing()
    {
        using var redis = new RedisFixture();
        using var azurite = new AzuriteFixture();
        var request = new VideoRequest { Prompt = "a red square slides", Width = 32, Height = 32, Frames = 25, Seed = 41, Steps = 24 };
        using var server = ReelServer.Start(["silo", "--model", "--redis", redis.ConnectionString, "--blob", azurite.ConnectionString, "--advertise-ip", "127.0.0.1"],
            slowSteps: true);
        await server.HealthyAsync();
        await using var client = await ReelClient.ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString));
        var key = (await client.Sessions.CreateAsync("acme", "default", request)).Key;
        await client.WaitFor(key, s => s.CommittedChunks == 1, server);

        // Longer than a chunk (7 s): the next commit meets the outage and must wait it out.
        redis.Stop();
        await Task.Delay(TimeSpan.FromSeconds(12));
        redis.Start();

        var done = await client.WaitFor(key, s => s.IsFinished, server);
        Assert.True(done.Status == SessionStatus.Completed, $"{done.Status}: {done.Error}");
        Assert.Equal(done.Chunks, done.ChunkSilos.Count);
        Assert.Equal(ReferenceDigest(request), await BlobLatentsDigestAsync(azurite, key));
    }

    [Fact]
    public async Task A_blob_store_outage_longer_than_the_SDKs_retries_delays_a_video_and_reads_answer_at_once()
    {
        using var redis = new RedisFixture();
        using var azurite = new AzuriteFixture();
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        var apiKey = ReelProcess.AddTenant(tenants, "acme");
        string[] stores = ["--redis", redis.ConnectionString, "--blob", azurite.ConnectionString];
        using var silo = ReelServer.Start(["silo", "--model", .. stores, "--advertise-ip", "127.0.0.1"], slowSteps: true);
        using var gateway = ReelServer.Start(["gateway", .. stores, "--tenants", tenants]);
        await silo.HealthyAsync();
        await gateway.HealthyAsync("health");
        using var api = gateway.Api(apiKey);
        await gateway.ServesModelAsync(api);
        var earlier = (await api.CompletedAsync(api.PostJsonAsync("videos", new { prompt = "a blue ball", size = "32x32", seconds = "1" }))).GetProperty("id").GetString()!;
        var request = new VideoRequest { Prompt = "a red square slides", Width = 32, Height = 32, Frames = 25, Seed = 43, Steps = 24 };
        var created = await api.PostJsonAsync("videos", new { prompt = request.Prompt, size = "32x32", seconds = "3", seed = request.Seed, steps = request.Steps });
        Assert.True(created.Status == HttpStatusCode.OK, created.Body.ToString());
        await using var client = await ReelClient.ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString));
        var key = (await client.Sessions.GetAsync("acme", created.Body.GetProperty("id").GetString()!))!.Key;
        await client.WaitFor(key, s => s.CommittedChunks == 1, silo);

        // 30 s: longer than the blob SDK's own retries (about 24 s), so only the session's outage budget can save the video.
        var outage = Stopwatch.StartNew();
        azurite.Stop();
        var video = await TimedAsync(() => api.SendAsync(HttpMethod.Get, $"videos/{earlier}"));
        var content = await TimedAsync(() => api.SendAsync(HttpMethod.Get, $"videos/{earlier}/content"));
        var list = await TimedAsync(() => api.SendAsync(HttpMethod.Get, "videos"));
        await Task.Delay(TimeSpan.FromSeconds(30) - outage.Elapsed);
        azurite.Start();

        // The record needs no blob: it answers; the download answers the 503 envelope at once instead of a bare 500 late.
        Assert.Equal(HttpStatusCode.OK, video.Result.Status);
        Assert.Equal(HttpStatusCode.OK, list.Result.Status);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, content.Result.Status);
        Assert.Equal("unavailable", content.Result.Body.GetProperty("error").GetProperty("code").GetString());
        Assert.All(new[] { video, content, list }, read => Assert.True(read.Elapsed < TimeSpan.FromSeconds(5), $"a read took {read.Elapsed}"));

        var done = await client.WaitFor(key, s => s.IsFinished, silo);
        Assert.True(done.Status == SessionStatus.Completed, $"{done.Status}: {done.Error}");
        Assert.Equal(done.Chunks, done.ChunkSilos.Count);
        Assert.Equal(ReferenceDigest(request), await BlobLatentsDigestAsync(azurite, key));
        Assert.Equal("ftyp", System.Text.Encoding.ASCII.GetString(await api.BytesAsync($"videos/{earlier}/content"), 4, 4));
    }

    /// <summary>
    /// A frozen silo is declared dead only after several seconds; until then a
    /// call to a grain it held has no answer (Orleans gives up after 30 s). Reads of such videos answer 503 at once, then
    /// 200 once its records are activated elsewhere.
    /// </summary>
    [Fact]
    public async Task Reads_of_videos_a_frozen_silo_held_answer_at_once_and_come_back_when_it_is_declared_dead()
    {
        using var redis = new RedisFixture();
        var (artifacts, tenants) = (TestModels.TempFolder(), Path.Combine(TestModels.TempFolder(), "tenants.json"));
        var apiKey = ReelProcess.AddTenant(tenants, "acme");
        // Slower failure detection than the other tests' (a frozen silo is declared dead after some 10-20 s): long
        // enough that a read waiting on it is told apart from one answering at once.
        var slowMembership = new Dictionary<string, string>
        {
            ["Orleans__Membership__ProbeTimeout"] = "00:00:03", ["Orleans__Membership__NumMissedProbesLimit"] = "3",
            ["Orleans__Membership__TableRefreshTimeout"] = "00:00:10",
        };
        string[] silo = ["silo", "--model", "--redis", redis.ConnectionString, "--artifacts", artifacts, "--advertise-ip", "127.0.0.1"];
        using var one = ReelServer.Start(silo, environment: slowMembership);
        using var two = ReelServer.Start(silo, environment: slowMembership);
        using var gateway = ReelServer.Start(["gateway", "--redis", redis.ConnectionString, "--artifacts", artifacts, "--tenants", tenants], environment: slowMembership);
        await one.HealthyAsync();
        await two.HealthyAsync();
        await gateway.HealthyAsync("health");
        using var api = gateway.Api(apiKey);
        await gateway.ServesModelAsync(api);
        // Enough videos that some of their records live on each silo.
        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
            ids.Add((await api.CompletedAsync(api.PostJsonAsync("videos", new { prompt = $"a ball number {i}", size = "32x32", seconds = "1" }))).GetProperty("id").GetString()!);

        // The silo holding more of the videos' records freezes (a hung machine, a partition): its connections stay open and
        // nothing answers on them, the worst case for a caller.
        await using var client = await ReelClient.ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString));
        var records = (await client.Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics()).Where(r => r.GrainId.Type.ToString() == "video").ToList();
        var onOne = records.Count(r => r.SiloAddress.Endpoint.Port == one.SiloPort);
        Assert.True(records.Count >= ids.Count, $"{records.Count} video records active");
        var (victim, survivor) = onOne * 2 >= records.Count ? (one, two) : (two, one);
        Assert.Contains(records, r => r.SiloAddress.Endpoint.Port == victim.SiloPort);
        victim.Freeze();
        var reads = new List<TimedRead>();
        foreach (var id in ids) reads.Add(await TimedAsync(() => api.SendAsync(HttpMethod.Get, $"videos/{id}")));
        Assert.All(reads, read =>
        {
            Assert.True(read.Elapsed < TimeSpan.FromSeconds(5), $"a read took {read.Elapsed}");
            Assert.True(read.Result.Status is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{read.Result.Status}");
            if (read.Result.Status == HttpStatusCode.ServiceUnavailable) Assert.Equal("unavailable", read.Result.Body.GetProperty("error").GetProperty("code").GetString());
        });
        foreach (var id in ids)
            await ReelClient.Until(async () => (await api.SendAsync(HttpMethod.Get, $"videos/{id}")).Status == HttpStatusCode.OK, survivor);
    }

    private sealed record TimedRead((HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response) Result, TimeSpan Elapsed);

    private static async Task<TimedRead> TimedAsync(Func<Task<(HttpStatusCode, JsonElement, HttpResponseMessage)>> read)
    {
        var clock = Stopwatch.StartNew();
        var result = await read();
        return new TimedRead(result, clock.Elapsed);
    }

    /// <summary>The same request (its frames, or else its seconds) through `reel generate` on the same fresh `test` weights and thread count.</summary>
    internal static string ReferenceDigest(VideoRequest request)
    {
        var output = Path.Combine(TestModels.TempFolder(), "reference.mp4");
        string[] length = request.Frames is { } frames ? ["--frames", $"{frames}"]
            : ["--seconds", (request.Seconds ?? throw new ArgumentException("The request has neither frames nor seconds.", nameof(request))).ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var result = ReelProcess.Run(["generate", request.Prompt, "--config", "test", "--threads", "1", "--seed", $"{request.Seed}",
            .. length, "--size", $"{request.Width}x{request.Height}", "--steps", $"{request.Steps ?? TestModels.Config.DefaultSteps}",
            "--json", "-o", output]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var report = JsonDocument.Parse(result.Stdout);
        return report.RootElement.GetProperty("latentSha256").GetString()!;
    }

    internal static async Task<string> BlobLatentsDigestAsync(AzuriteFixture azurite, SessionKey key)
    {
        await using var stream = (await BlobArtifactStore.Connect(azurite.ConnectionString).OpenReadAsync(SessionArtifacts.Latents(key)))!;
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        using var latents = LatentsFile.FromBytes(copy.ToArray());
        return LatentDigest.Of(latents);
    }

    private static string FolderLatentsDigest(string artifacts, SessionKey key)
    {
        using var latents = LatentsFile.FromBytes(File.ReadAllBytes(Path.Combine(artifacts, SessionArtifacts.Latents(key).Value)));
        return LatentDigest.Of(latents);
    }

    [Fact]
    public void Silo_refuses_settings_that_cannot_work()
    {
        var result = ReelProcess.Run("silo", "--model", "--pool", "Bad_Pool", "--config", "test");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Pool 'Bad_Pool'", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Theory]
    [InlineData("silo")]
    [InlineData("gateway")]
    public void An_unreachable_Redis_ends_the_start_with_one_line_naming_it(string kind)
    {
        var redis = $"127.0.0.1:{AzuriteFixture.FreePort()}";
        Assert.StartsWith($"reel: Redis at {redis} is unreachable: ", Refused(kind, "--redis", redis));
    }

    [Theory]
    [InlineData("silo")]
    [InlineData("gateway")]
    public void A_blob_store_refusing_the_credentials_ends_the_start_with_one_line(string kind)
    {
        using var azurite = new AzuriteFixture();
        // A gateway needs its cluster's Redis, which answers: only the blob store's key is wrong.
        using var redis = kind == "gateway" ? new RedisFixture() : null;
        var wrongKey = Regex.Replace(azurite.ConnectionString, "AccountKey=[^;]+", "AccountKey=" + Convert.ToBase64String(new byte[64]));
        string[] cluster = redis is null ? [] : ["--redis", redis.ConnectionString];
        Assert.StartsWith("reel: The blob store refused the credentials: ", Refused(kind, [.. cluster, "--blob", wrongKey]));
    }

    /// <summary>
    /// `reel silo|gateway ARGS` on free ports, which must refuse to start: exit 1 within 15 s with one line on stderr
    /// (no stack trace, no log), returned.
    /// </summary>
    private static string Refused(string kind, params string[] args)
    {
        string[] ports = kind == "gateway" ? ["--http-port", $"{AzuriteFixture.FreePort()}", "--management-port", $"{AzuriteFixture.FreePort()}"]
            : ["--silo-port", $"{AzuriteFixture.FreePort()}", "--gateway-port", $"{AzuriteFixture.FreePort()}", "--http-port", $"{AzuriteFixture.FreePort()}",
                "--management-port", $"{AzuriteFixture.FreePort()}"];
        using var process = Process.Start(ReelProcess.StartInfo([kind, .. args, .. ports]))!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var exited = process.WaitForExit(TimeSpan.FromSeconds(15));
        if (!exited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        Assert.True(exited, $"reel {kind} still ran after 15 s:\n{stderr.Result}");
        Assert.Equal(1, process.ExitCode);
        Assert.Equal("", stdout.Result);
        var lines = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, stderr.Result);
        return lines[0];
    }

}

/// <summary>A `reel serve` or `reel silo` process on free ports with the `test` model and one torch thread.</summary>
public sealed class ReelServer : IDisposable
{
    private readonly Process _process;

    private ReelServer(string[] args, bool slowSteps, IReadOnlyDictionary<string, string>? environment)
    {
        (SiloPort, GatewayPort, HttpPort) = (AzuriteFixture.FreePort(), AzuriteFixture.FreePort(), AzuriteFixture.FreePort());
        ManagementPort = AzuriteFixture.FreePort();
        // A gateway has no model or silo: it only listens on its HTTP and management ports.
        string[] own = args[0] == "gateway" ? ["--http-port", $"{HttpPort}", "--management-port", $"{ManagementPort}"]
            : ["--config", "test", "--threads", "1", "--silo-port", $"{SiloPort}", "--gateway-port", $"{GatewayPort}", "--http-port", $"{HttpPort}",
                "--management-port", $"{ManagementPort}"];
        // A test setting, not a fake: each denoising step pauses so that a kill lands inside a chunk.
        var start = ReelProcess.StartInfo(args.Concat(own).Concat(slowSteps ? ["--test-step-delay", "00:00:00.300"] : []));
        // Short membership timeouts (test settings): a killed silo is declared dead in seconds, unless a test says otherwise.
        start.Environment["Orleans__Membership__ProbeTimeout"] = "00:00:01";
        start.Environment["Orleans__Membership__NumMissedProbesLimit"] = "2";
        start.Environment["Orleans__Membership__TableRefreshTimeout"] = "00:00:02";
        // The chaos test reads the sessions' start and commit lines, whatever level the rest of the log is kept at.
        start.Environment["Logging__LogLevel__Reel.Grains.GenerationSessionGrain"] = "Information";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private const int KeptLines = 60;
    private readonly Queue<string> _output = new();

    /// <summary>The last lines the process wrote (stdout and stderr): what a failing test shows of it.</summary>
    public string Output
    {
        get
        {
            lock (_output) return string.Join('\n', _output);
        }
    }

    private readonly List<(DateTime At, string Line)> _lines = [];

    /// <summary>Every line the process wrote, with when the test read it: the process's own account of what it did, in order.</summary>
    public IReadOnlyList<(DateTime At, string Line)> Lines
    {
        get
        {
            lock (_output) return [.. _lines];
        }
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.Enqueue(line);
            if (_output.Count > KeptLines) _output.Dequeue();
            _lines.Add((DateTime.UtcNow, line));
        }
    }

    public int SiloPort { get; }
    public int GatewayPort { get; }
    public int HttpPort { get; }

    /// <summary>Metrics and drain (on 127.0.0.1).</summary>
    public int ManagementPort { get; }
    public bool HasExited => _process.HasExited;

    public static ReelServer Start(string[] args, bool slowSteps = false, IReadOnlyDictionary<string, string>? environment = null) =>
        new(args, slowSteps, environment);

    /// <summary>`reel serve` with its own state and artifacts folders and the tenants of <paramref name="tenants"/>.</summary>
    public static ReelServer Serve(string tenants, bool slowSteps = false, IReadOnlyDictionary<string, string>? environment = null) =>
        new(["serve", "--artifacts", TestModels.TempFolder(), "--state", TestModels.TempFolder(), "--tenants", tenants], slowSteps, environment);

    /// <summary>A client of this process's HTTP API with a tenant's key.</summary>
    public Api Api(string key) => new(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}") }, key);

    /// <summary>Waits until the API knows the pool's model (its first model silo has reported): the SDK's sizes map from then on.</summary>
    public Task ServesModelAsync(Api api) =>
        ReelClient.Until(async () => (await api.SendAsync(HttpMethod.Get, "models")).Body.GetProperty("data").GetArrayLength() == 1, this);

    /// <summary>Waits for 200 on /healthz (a silo: its model is loaded) or /health (a gateway).</summary>
    public async Task HealthyAsync(string path = "healthz")
    {
        using var web = new HttpClient();
        await ReelClient.Until(async () =>
        {
            try
            {
                using var response = await web.GetAsync($"http://127.0.0.1:{HttpPort}/{path}");
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, this);
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod: the process shuts down (drains) by itself.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", $"{_process.Id}"])!;
        kill.WaitForExit();
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>SIGSTOP: the process stops answering but its connections stay open, like a hung machine.</summary>
    public void Freeze()
    {
        using var stop = Process.Start("kill", ["-STOP", $"{_process.Id}"])!;
        stop.WaitForExit();
    }

    /// <summary>SIGKILL: no shutdown, no deactivation, exactly like a crashed machine.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited) Kill();
        _process.Dispose();
    }
}

/// <summary>Waiting on `reel` processes through a cluster client (the CLI's <see cref="ClusterClient"/>).</summary>
public static class ReelClient
{
    public static Task<ClusterClient> ConnectAsync(Action<IClientBuilder> connect) => ClusterClient.ConnectAsync(connect, CancellationToken.None);

    /// <summary>Polls the session until <paramref name="done"/> holds, riding out calls that fail while a silo dies.</summary>
    public static async Task<SessionSnapshot> WaitFor(this ClusterClient client, SessionKey key, Func<SessionSnapshot, bool> done, ReelServer server)
    {
        SessionSnapshot? last = null;
        Exception? error = null;
        await Until(async () =>
        {
            try
            {
                last = await client.Sessions.GetAsync(key);
                error = null;
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                error = e;
                return false;
            }
            return last is not null && done(last);
        }, server, () => $"last seen: {(object?)error?.Message ?? last}");
        return last!;
    }

    public static async Task Until(Func<Task<bool>> condition, ReelServer server, Func<string>? describe = null)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            if (server.HasExited) throw new InvalidOperationException($"reel exited. Its last output:\n{server.Output}");
            if (await condition()) return;
            await Task.Delay(200);
        }
        throw new TimeoutException($"reel did not get there in 3 minutes; {describe?.Invoke()}. Its last output:\n{server.Output}");
    }
}
