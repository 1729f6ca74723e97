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
