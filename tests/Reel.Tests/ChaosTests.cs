using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Hosting;
using Reel.Abstractions;
using Xunit.Abstractions;

namespace Reel.Tests;

/// <summary>
/// Issue 21: a cluster at work under a scripted sequence of faults. Two model silos (each its own process), a gateway,
/// Redis and the blob store, all real, on loopback; videos of two tenants made over the HTTP API while a model silo is
/// killed (-9) and restarted, Redis restarts, the blob store is away for 30 s, and another silo is killed. Every video
/// must end completed with each chunk committed once and the latents of an undisturbed run, and no tenant may see
/// another's videos. The test prints what it measured (deploy/README.md, "What happens to running sessions").
/// </summary>
public sealed partial class ChaosTests(ITestOutputHelper output)
{
    /// <summary>Few distinct requests (the reference of each is made once): 3 s of the `test` model are 25 frames, 7 latent frames, 3 chunks; 2 s are 2 chunks.</summary>
    private static readonly (string Prompt, ulong Seed, int Seconds, int Chunks)[] Requests =
    [
        ("a red ball moves left", 2101, 3, 3), ("a blue square falls", 2102, 2, 2), ("a green triangle rises", 2103, 3, 3), ("a white disc slides right", 2104, 2, 2),
    ];

    private static readonly string[] TenantNames = ["acme", "globex"];
    private const int SessionsPerTenant = 10;

    /// <summary>Chooses which model silo each kill takes.</summary>
    private const int ScheduleSeed = 21;

    private static readonly TimeSpan BlobOutage = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RedisDown = TimeSpan.FromSeconds(5);

    /// <summary>Below the sessions' reminder period (1 min), with room for a restarted silo's start on a busy machine.</summary>
    private static readonly TimeSpan ResumeBound = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Videos_of_two_tenants_ride_out_silo_kills_a_Redis_restart_and_a_blob_outage_each_chunk_committed_once_with_undisturbed_latents()
    {
        var clock = Stopwatch.StartNew();
        using var redis = new RedisFixture();
        using var azurite = new AzuriteFixture();
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        var keys = TenantNames.ToDictionary(t => t, t => ReelProcess.AddTenant(tenants, t));
        // Two sessions a silo: a kill interrupts more than one, and one session's output is written while the other's chunk runs.
        string[] siloArgs = ["silo", "--model", "--max-sessions", "2", "--redis", redis.ConnectionString, "--blob", azurite.ConnectionString, "--advertise-ip", "127.0.0.1"];
        var servers = new List<ReelServer>();
        ReelServer Started(string[] args, bool slowSteps)
        {
            var server = ReelServer.Start(args, slowSteps);
            lock (servers) servers.Add(server);
            return server;
        }
        try
        {
            var silos = new[] { Started(siloArgs, slowSteps: true), Started(siloArgs, slowSteps: true) };
            var gateway = Started(["gateway", "--redis", redis.ConnectionString, "--blob", azurite.ConnectionString, "--tenants", tenants], slowSteps: false);
            await silos[0].HealthyAsync();
            await silos[1].HealthyAsync();
            await gateway.HealthyAsync("health");
            var apis = keys.ToDictionary(k => k.Key, k => gateway.Api(k.Value));
            await gateway.ServesModelAsync(apis["acme"]);
            var live = () => silos.Append(gateway);

            var videos = new List<Video>();
            for (var i = 0; i < SessionsPerTenant * TenantNames.Length; i++)
            {
                var (tenant, request) = (TenantNames[i % TenantNames.Length], i % Requests.Length);
                var (prompt, seed, seconds, _) = Requests[request];
                var created = await apis[tenant].PostJsonAsync("videos", new { prompt, size = "32x32", seconds = $"{seconds}", seed });
                Assert.True(created.Status == HttpStatusCode.OK, created.Body.ToString());
                videos.Add(new Video(tenant, created.Body.GetProperty("id").GetString()!, request));
            }
            var started = DateTime.UtcNow;
            output.WriteLine($"cluster up and {videos.Count} videos created after {clock.Elapsed.TotalSeconds:0} s");
            // The undisturbed runs, meanwhile: the silos mostly sleep in their slowed steps.
            var references = Task.Run(() => Requests.Select(r => SiloCommandTests.ReferenceDigest(
                new VideoRequest { Prompt = r.Prompt, Seed = r.Seed, Seconds = r.Seconds, Width = 32, Height = 32 })).ToArray());
            var reads = new ConcurrentQueue<Read>();
            var following = videos.Select(v => FollowAsync(apis[v.Tenant], v, reads)).ToList();

            var log = new ChunkLog(() => { lock (servers) return [.. servers]; });
            var random = new Random(ScheduleSeed);
            // How long after each fault work went on: each session in progress at a kill, the first commit after a store's return.
            var resumes = new List<(string Fault, TimeSpan After)>();
            var faults = new List<string>();

            // 1. kill -9 of a model silo inside a chunk, and its restart.
            await WaitUntil(() => log.Committed() >= 4, "4 chunks committed", live);
            faults.Add(await KillAndRestartAsync(1, random.Next(2)));
            // 2. Redis shut down (its append-only file flushed) and started again.
            faults.Add(await StoreOutageAsync("Redis restart", RedisDown, redis.Stop, redis.Start));
            // 3. The blob store away for 30 s, back on the same port with the same data.
            faults.Add(await StoreOutageAsync("blob store outage", BlobOutage, azurite.Stop, azurite.Start));
            // 4. Another kill -9, of a silo chosen afresh.
            faults.Add(await KillAndRestartAsync(2, random.Next(2)));

            var finished = Task.WhenAll(following);
            await WaitUntil(() => finished.IsCompleted, "every video finished", live, TimeSpan.FromMinutes(4));
            await finished;
            var finishedAfter = DateTime.UtcNow - started;

            // Every video completed, as its own tenant reads it.
            var notCompleted = videos.Where(v => v.Status != "completed").Select(v => $"{v.Id} ({v.Tenant}): {v.Last}").ToList();
            Assert.True(notCompleted.Count == 0, $"{notCompleted.Count} video(s) did not complete:\n{string.Join('\n', notCompleted)}\n{Logs(live())}");

            // Each chunk committed once: one commit line per chunk in every process's log, and the record's committed
            // chunks are exactly the plan's, each made where that one commit happened.
            await using var client = await ReelClient.ConnectAsync(c => c.UseRedisClustering(redis.ConnectionString));
            var digests = await references;
            var events = log.Events();
            var totalChunks = 0;
            foreach (var video in videos)
            {
                var snapshot = await client.Sessions.GetAsync(video.Tenant, video.Id);
                Assert.NotNull(snapshot);
                Assert.Equal(SessionStatus.Completed, snapshot.Status);
                Assert.Equal(Requests[video.Request].Chunks, snapshot.Chunks);
                totalChunks += snapshot.Chunks;
                Assert.True(snapshot.ChunkSilos.Count == snapshot.Chunks, $"{video.Id}: {snapshot.ChunkSilos.Count} committed chunk(s) recorded for {snapshot.Chunks}");
                var session = snapshot.Key.Session;
                for (var chunk = 1; chunk <= snapshot.Chunks; chunk++)
                {
                    var commits = events.Where(e => e.Session == session && e.Chunk == chunk && e.Committed).ToList();
                    Assert.True(commits.Count <= 1, $"{video.Id}: chunk {chunk} committed {commits.Count} times: {string.Join(", ", commits.Select(c => $"{c.Silo} at {c.At:HH:mm:ss.fff}"))}");
                    // A kill can take a commit's log line with it, never a commit that happened elsewhere.
                    if (commits.Count == 1) Assert.Equal(commits[0].Silo, snapshot.ChunkSilos[chunk - 1]);
                }
                Assert.Equal(digests[video.Request], await SiloCommandTests.BlobLatentsDigestAsync(azurite, snapshot.Key));
            }

            // No tenant sees another's videos; each lists exactly its own; every video's MP4 outlived the blob store's restart.
            foreach (var tenant in TenantNames)
            {
                var listed = (await apis[tenant].SendAsync(HttpMethod.Get, "videos?limit=100")).Body.GetProperty("data").EnumerateArray()
                    .ToDictionary(v => v.GetProperty("id").GetString()!, v => v.GetProperty("status").GetString());
                Assert.Equal(videos.Where(v => v.Tenant == tenant).Select(v => v.Id).Order(), listed.Keys.Order());
                Assert.All(listed, v => Assert.Equal("completed", v.Value));
            }
            foreach (var video in videos)
            {
                var other = apis[TenantNames.Single(t => t != video.Tenant)];
                Assert.Equal(HttpStatusCode.NotFound, (await other.SendAsync(HttpMethod.Get, $"videos/{video.Id}")).Status);
                Assert.Equal(HttpStatusCode.NotFound, (await other.SendAsync(HttpMethod.Get, $"videos/{video.Id}/content")).Status);
                Assert.Equal("ftyp", Encoding.ASCII.GetString(await apis[video.Tenant].BytesAsync($"videos/{video.Id}/content"), 4, 4));
            }

            // Reads while the cluster heals: 503 (the SDK retries it) is allowed, anything else is not.
            var failed = reads.Where(r => r.Status != HttpStatusCode.OK).ToList();
            var unexpected = failed.Where(r => r.Status != HttpStatusCode.ServiceUnavailable).ToList();
            Assert.True(unexpected.Count == 0, $"reads answered other than 200 or 503: {string.Join("; ", unexpected.Take(10))}");
            var spells = Spells(failed);

            var redone = events.Where(e => !e.Committed).GroupBy(e => (e.Session, e.Chunk)).Sum(g => g.Count() - 1);
            output.WriteLine($"sessions: {videos.Count} ({SessionsPerTenant} per tenant, {TenantNames.Length} tenants), {totalChunks} chunks, all completed");
            foreach (var fault in faults) output.WriteLine(fault);
            output.WriteLine($"chunks redone: {redone} (chunk starts {events.Count(e => !e.Committed)}, commits logged {events.Count(e => e.Committed)})");
            output.WriteLine($"reads: {reads.Count} GETs, {failed.Count} answered 503 in {spells.Count} spell(s)" +
                (spells.Count > 0 ? $", longest {spells.Max().TotalSeconds:0.0} s" : "") + $"; slowest read {reads.Max(r => r.Duration).TotalSeconds:0.0} s");
            output.WriteLine($"videos finished {finishedAfter.TotalSeconds:0} s after creation; test ran {clock.Elapsed.TotalSeconds:0} s");

            // Nothing waits for its reminder (1 min): a session the runtime deactivated on a surviving silo is resumed by
            // the pool within a load report or two, the killed silo's as soon as a silo has room, commits as soon as the
            // store answers again (the longest back-off pause is 15 s).
            Assert.All(resumes, r => Assert.True(r.After < ResumeBound, $"{r.Fault}: work went on only after {r.After.TotalSeconds:0.0} s"));

            async Task<string> KillAndRestartAsync(int number, int index)
            {
                var victim = silos[index];
                var port = $":{victim.SiloPort}:";
                bool On(ChunkLog.Event e) => e.Silo.Contains(port, StringComparison.Ordinal);
                // Every unfinished session that has run, on either silo (one may be between chunks), by its latest chunk
                // line; the kill waits for one inside a chunk on the victim (its latest line a start there).
                List<ChunkLog.Event> inProgress = [];
                await WaitUntil(() => (inProgress = [.. log.Latest().Where(e => !(e.Committed && e.Chunk == e.Chunks))]).Any(e => !e.Committed && On(e)),
                    $"a session inside a chunk on silo {victim.SiloPort} for kill {number}", live);
                var committedBefore = log.Committed();
                var unfinished = Unfinished();
                var killedAt = DateTime.UtcNow;
                victim.Kill();
                var restarted = Started(siloArgs, slowSteps: true);
                silos[index] = restarted;
                await restarted.HealthyAsync();
                var healthyAfter = DateTime.UtcNow - killedAt;
                // Moving again: a chunk of it started or committed in a live process, or it completed (it was writing its
                // outputs). The victim's own last lines are read while it dies, after the kill: they do not count.
                DateTime? MovingAt(string session) =>
                    log.Events().FirstOrDefault(e => e.Session == session && e.At > killedAt && !On(e))?.At
                    ?? videos.Single(v => TestModels.SessionOf(v.Id) == session).CompletedSeen;
                await WaitUntil(() => inProgress.All(e => MovingAt(e.Session) is not null), $"the sessions in progress at kill {number} moving again", live);
                var moving = inProgress.Select(e => (Victim: On(e), After: MovingAt(e.Session)!.Value - killedAt)).ToList();
                var victims = moving.Where(m => m.Victim).Select(m => m.After.TotalSeconds).ToList();
                var deactivated = log.Deactivated(killedAt);
                await WaitUntil(() => log.Committed() >= committedBefore + 2, "2 more chunks committed", live);
                resumes.AddRange(moving.Select(m => ($"kill {number}", m.After)));
                return $"kill {number} at +{(killedAt - started).TotalSeconds:0} s ({unfinished} videos unfinished): silo {victim.SiloPort} with {victims.Count} session(s) on it, " +
                    $"{moving.Count - victims.Count} on the other; {deactivated} running session(s) of the other deactivated by the runtime; restarted silo healthy after {healthyAfter.TotalSeconds:0.0} s; " +
                    $"the killed silo's sessions running again after {victims.Min():0.0}–{victims.Max():0.0} s, every session in progress after at most {moving.Max(m => m.After).TotalSeconds:0.0} s";
            }

            // Down from the stop's start (the store refuses new connections at once) until it listens again.
            async Task<string> StoreOutageAsync(string what, TimeSpan hold, Action stop, Action start)
            {
                var (running, unfinished) = (videos.Count(v => v.Status == "in_progress"), Unfinished());
                var stopping = DateTime.UtcNow;
                stop();
                var stopped = DateTime.UtcNow;
                await Task.Delay(hold);
                var starting = DateTime.UtcNow;
                start();
                var back = DateTime.UtcNow;
                await WaitUntil(() => log.Events().Any(e => e.Committed && e.At > back), $"a chunk committed after the {what}", live);
                var firstCommit = log.Events().First(e => e.Committed && e.At > back).At;
                var whileDown = log.Events().Count(e => e.Committed && e.At > stopping && e.At <= back);
                var committed = log.Committed();
                await WaitUntil(() => log.Committed() >= committed + 2, "2 more chunks committed", live);
                resumes.Add((what, firstCommit - back));
                return $"{what} at +{(stopping - started).TotalSeconds:0} s ({unfinished} videos unfinished, {running} in progress): down {(back - stopping).TotalSeconds:0.0} s " +
                    $"(stopping {(stopped - stopping).TotalSeconds:0.0} s, starting {(back - starting).TotalSeconds:0.0} s); {whileDown} chunk(s) committed while down; " +
                    $"first commit {(firstCommit - back).TotalSeconds:0.0} s after it was back";
            }

            int Unfinished() => videos.Count(v => v.Status is not ("completed" or "failed"));
        }
        finally
        {
            lock (servers) foreach (var server in servers) server.Dispose();
        }
    }

    /// <summary>A video as its tenant's reads last saw it.</summary>
    private sealed record Video(string Tenant, string Id, int Request)
    {
        public string Status { get; set; } = "queued";
        public string Last { get; set; } = "";
        public DateTime? CompletedSeen { get; set; }
    }

    private sealed record Read(DateTime Start, DateTime End, HttpStatusCode Status, string Id)
    {
        public TimeSpan Duration => End - Start;
    }

    /// <summary>Reads the video once a second until it ends, as a client would; 503s are retried like any other poll.</summary>
    private static async Task FollowAsync(Api api, Video video, ConcurrentQueue<Read> reads)
    {
        while (true)
        {
            var start = DateTime.UtcNow;
            var (status, body, _) = await api.SendAsync(HttpMethod.Get, $"videos/{video.Id}");
            reads.Enqueue(new Read(start, DateTime.UtcNow, status, video.Id));
            if (status == HttpStatusCode.OK)
            {
                video.Status = body.GetProperty("status").GetString()!;
                video.Last = body.ToString();
                if (video.Status == "completed") video.CompletedSeen ??= DateTime.UtcNow;
                if (video.Status is "completed" or "failed") return;
            }
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Failed reads grouped into spells: reads that failed less than two poll periods apart belong to one.</summary>
    private static List<TimeSpan> Spells(IEnumerable<Read> failed)
    {
        var spells = new List<(DateTime Start, DateTime End)>();
        foreach (var read in failed.OrderBy(r => r.Start))
        {
            if (spells.Count > 0 && read.Start <= spells[^1].End + TimeSpan.FromSeconds(2))
                spells[^1] = (spells[^1].Start, read.End > spells[^1].End ? read.End : spells[^1].End);
            else spells.Add((read.Start, read.End));
        }
        return [.. spells.Select(s => s.End - s.Start)];
    }

    private static async Task WaitUntil(Func<bool> condition, string what, Func<IEnumerable<ReelServer>> live, TimeSpan? within = null)
    {
        var limit = within ?? TimeSpan.FromMinutes(2);
        var deadline = DateTime.UtcNow + limit;
        while (!condition())
        {
            if (live().FirstOrDefault(s => s.HasExited) is { } dead) throw new InvalidOperationException($"A reel process exited while waiting for {what}. Its last output:\n{dead.Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"No {what} within {limit.TotalSeconds:0} s.\n{Logs(live())}");
            await Task.Delay(200);
        }
    }

    private static string Logs(IEnumerable<ReelServer> servers) =>
        string.Join('\n', servers.Select((s, i) => $"--- process {i} (silo port {s.SiloPort}), last output:\n{s.Output}"));

    /// <summary>
    /// The chunk lines of every model silo's log, the dead ones' included: "Session S: chunk i/N started on SILO" and
    /// "… committed on SILO" (GenerationSessionGrain), each with when the test read it.
    /// </summary>
    private sealed partial class ChunkLog(Func<IReadOnlyList<ReelServer>> servers)
    {
        public sealed record Event(DateTime At, string Session, int Chunk, int Chunks, bool Committed, string Silo);

        public List<Event> Events() =>
        [
            .. servers().SelectMany(s => s.Lines).Select(l => (l.At, Match: ChunkLine().Match(l.Line))).Where(l => l.Match.Success)
                .Select(l => new Event(l.At, l.Match.Groups["session"].Value, int.Parse(l.Match.Groups["chunk"].Value, CultureInfo.InvariantCulture),
                    int.Parse(l.Match.Groups["chunks"].Value, CultureInfo.InvariantCulture), l.Match.Groups["kind"].Value == "committed", l.Match.Groups["silo"].Value))
                .OrderBy(e => e.At),
        ];

        public int Committed() => Events().Count(e => e.Committed);

        /// <summary>Each session's latest chunk line.</summary>
        public List<Event> Latest() => [.. Events().GroupBy(e => e.Session).Select(g => g.Last())];

        /// <summary>
        /// Sessions deactivated under their chunk loop after <paramref name="since"/> (GenerationSessionGrain's warning):
        /// a silo's death deactivates the survivors' activations whose directory entry it held.
        /// </summary>
        public int Deactivated(DateTime since) =>
            servers().SelectMany(s => s.Lines).Count(l => l.At > since && l.Line.Contains("inside its chunk loop", StringComparison.Ordinal));

        [GeneratedRegex(@"Session (?<session>[^\s:]+): chunk (?<chunk>\d+)/(?<chunks>\d+) (?<kind>started|committed) on (?<silo>\S+)")]
        private static partial Regex ChunkLine();
    }
}
