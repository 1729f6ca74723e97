using Reel.Model;
using Reel.Inference;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class ModelHostTests
{
    private static (ModelHost Host, string Weights) Host()
    {
        var folder = TestModels.TempFolder();
        using (var model = TestModels.Active(seed: 12)) model.Save(folder);
        return (new ModelHost(new ModelHostOptions { Weights = folder, Threads = 1 }), folder);
    }

    private static GenerationRequest Request => new() { Prompt = "a red disc falls", Size = new VideoSize(32, 32), Frames = 17, Seed = 4, Steps = 2 };

    [Fact]
    public async Task Work_runs_on_a_dedicated_thread_never_the_thread_pool()
    {
        var (host, _) = Host();
        using (host)
        {
            var where = await host.Enqueue(_ => (Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name));
            Assert.False(where.IsThreadPoolThread);
            Assert.Equal("reel-model-host", where.Name);
        }
    }

    [Fact]
    public async Task A_chunk_generated_by_the_host_equals_one_generated_directly()
    {
        var (host, weights) = Host();
        using (host)
        {
            using var model = ReelModel.Load(weights);
            var generator = new VideoGenerator(model);
            var chunk = generator.Plan(Request).Chunks[0];
            using var direct = generator.GenerateChunk(Request, chunk, null);
            using var hosted = await host.GenerateChunkAsync(Request, chunk, null);
            Assert.Equal(LatentDigest.Of(direct), LatentDigest.Of(hosted));
            var frames = 0L;
            await host.DecodeAsync(hosted, f => frames += f.shape[0]);
            Assert.Equal(FrameCount.ToPixel(model.Config, chunk.Length), frames);
        }
    }

    [Fact]
    public async Task Chunks_of_several_sessions_stepped_together_equal_each_chunk_run_alone()
    {
        var (host, weights) = Host();
        using (host)
        {
            GenerationRequest[] requests =
            [
                Request,
                Request with { Prompt = "two blue squares slide to the left while a green triangle waits", Seed = 9 },
                Request with { Prompt = "", Seed = 5, Guidance = 1.0 },
                Request with { Seed = 6, Solver = FlowSolver.Heun, Guidance = 6.0 },
                Request with { Size = new VideoSize(48, 32), Seed = 7 },
            ];
            using var model = ReelModel.Load(weights);
            var generator = new VideoGenerator(model);
            var chunks = requests.Select(r => generator.Plan(r).Chunks[0]).ToArray();
            var alone = requests.Select((r, i) =>
            {
                using var latents = generator.GenerateChunk(r, chunks[i], null);
                return LatentDigest.Of(latents);
            }).ToArray();

            // Hold the host while every chunk arrives, so that they all join the same steps.
            var steps = new StepLog();
            using var release = new ManualResetEventSlim();
            var blocker = host.Enqueue(_ => release.Wait(TimeSpan.FromSeconds(10)));
            var hosted = requests.Select((r, i) => host.GenerateChunkAsync(r, chunks[i], null, steps.For(i))).ToArray();
            release.Set();
            await blocker;
            var results = await Task.WhenAll(hosted);
            try
            {
                Assert.Equal(alone, results.Select(LatentDigest.Of).ToArray());
            }
            finally
            {
                foreach (var latents in results) latents.Dispose();
            }
            // The Euler chunks of one shape took their steps together: each one's first step came before any one's second.
            var euler = steps.Events.Where(e => e.Chunk < 3).ToList();
            Assert.All(euler.Take(3), e => Assert.Equal(1, e.Step));
            Assert.Equal(3, euler.Take(3).Select(e => e.Chunk).Distinct().Count());
        }
    }

    [Fact]
    public async Task Two_tenants_with_shares_1_and_3_submitting_continuously_get_steps_within_10_percent_of_1_to_3()
    {
        var folder = TestModels.TempFolder();
        using (var model = TestModels.Active(seed: 12)) model.Save(folder);
        using var host = new ModelHost(new ModelHostOptions { Weights = folder, Threads = 1, MaxBatch = 2 });
        var steps = new StepLog();
        var owners = new[] { new TenantShare("light", 1), new TenantShare("heavy", 3) };
        var request = Request with { Steps = 1000 };
        var chunk = new VideoGenerator(await host.Loaded).Plan(request).Chunks[0];
        using var stop = new CancellationTokenSource();
        // Two sessions per tenant, so that more chunks wait than a step takes.
        var sessions = Enumerable.Range(0, 4).Select(i => host.GenerateChunkAsync(request, chunk, null, steps.For(i % 2), stop.Token, owners[i % 2])).ToArray();
        Assert.True(SpinWait.SpinUntil(() => steps.Events.Count >= 400, TimeSpan.FromSeconds(60)));
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.WhenAll(sessions));
        var counted = steps.Events.Take(400).ToList();
        var ratio = (double)counted.Count(e => e.Chunk == 1) / counted.Count(e => e.Chunk == 0);
        Assert.InRange(ratio, 3 * 0.9, 3 * 1.1);
    }

    [Fact]
    public void Chunks_of_different_shapes_take_turns_and_a_step_never_mixes_shapes()
    {
        var scheduler = new StepScheduler<string>(maxBatch: 4);
        foreach (var (job, owner, shape) in new[] { ("a1", "x", "A"), ("a2", "x", "A"), ("b1", "y", "B"), ("b2", "z", "B") })
            scheduler.Add(job, new TenantShare(owner, 1), shape);
        var batches = Enumerable.Range(0, 6).Select(_ => scheduler.NextBatch()).ToList();
        Assert.All(batches, b => Assert.Single(b.Select(j => j[0]).Distinct()));
        // Shape a holds one tenant's two chunks, shape b two tenants' one each: every tenant gets the same chunk-steps,
        // so b (two tenants) takes twice as many turns as a.
        var tenantOf = new Dictionary<string, string> { ["a1"] = "x", ["a2"] = "x", ["b1"] = "y", ["b2"] = "z" };
        var stepsOf = batches.SelectMany(b => b).GroupBy(j => tenantOf[j]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal([4, 4, 4], stepsOf.Values);
        Assert.Equal(2, batches.Count(b => b[0][0] == 'a'));
        Assert.Equal(4, batches.Count(b => b[0][0] == 'b'));
    }

    private sealed class StepLog
    {
        private readonly List<(int Chunk, int Step)> _events = [];

        public List<(int Chunk, int Step)> Events
        {
            get
            {
                lock (_events) return [.. _events];
            }
        }

        public IGenerationProgress For(int chunk) => new Recorder(this, chunk);

        private sealed class Recorder(StepLog log, int chunk) : IGenerationProgress
        {
            public void OnStep(ChunkSpan span, int step, int steps)
            {
                lock (log._events) log._events.Add((chunk, step));
            }

            public void OnChunk(ChunkSpan span)
            {
            }
        }
    }

    [Fact]
    public async Task Requests_are_served_in_order_and_a_cancelled_one_is_skipped()
    {
        var (host, _) = Host();
        using (host)
        {
            var order = new List<int>();
            using var release = new ManualResetEventSlim();
            var blocker = host.Enqueue(_ => release.Wait(TimeSpan.FromSeconds(10)));
            using var cancelled = new CancellationTokenSource();
            var tasks = Enumerable.Range(0, 5).Select(i => host.Enqueue(_ => { order.Add(i); return i; }, i == 2 ? cancelled.Token : default)).ToArray();
            cancelled.Cancel();
            release.Set();
            await blocker;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => tasks[2]);
            await Task.WhenAll(tasks.Where((_, i) => i != 2));
            Assert.Equal([0, 1, 3, 4], order);
        }
    }

    [Fact]
    public async Task A_stopped_host_computes_nothing_more_and_fails_what_was_queued()
    {
        var (host, _) = Host();
        await host.Loaded;
        using var release = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        var running = host.Enqueue(_ =>
        {
            started.Set();
            return release.Wait(TimeSpan.FromSeconds(10));
        });
        started.Wait(TimeSpan.FromSeconds(10));
        var ran = false;
        var queued = host.Enqueue(_ => ran = true);
        var stopping = Task.Run(host.Dispose);
        // Once new work is refused the stop has begun: only then let the running work finish.
        Assert.True(SpinWait.SpinUntil(() => host.Enqueue(_ => 0).IsFaulted, TimeSpan.FromSeconds(10)));
        release.Set();
        await stopping;
        await running;
        await Assert.ThrowsAsync<ObjectDisposedException>(() => queued);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => host.Enqueue(_ => 1));
        Assert.False(ran);
    }

    [Fact]
    public async Task A_host_whose_weights_do_not_load_says_why_to_every_caller()
    {
        using var host = new ModelHost(new ModelHostOptions { Weights = "/nonexistent/weights" });
        Assert.Contains("does not exist", (await Assert.ThrowsAsync<ModelException>(() => host.Loaded)).Message);
        await Assert.ThrowsAsync<ModelException>(() => host.Enqueue(_ => 1));
    }
}
