using System.Diagnostics;
using System.Collections.Concurrent;
using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Inference;

/// <summary>
/// A loaded model and the queue of work for it, served by one dedicated thread — never the .NET thread pool, where a
/// multi-second libtorch call would starve the silo's messaging and liveness probes. Callers await the result. Work is
/// described as typed requests (a chunk to generate, latents to decode), so a later scheduler can batch the steps of
/// several sessions. Disposing stops the thread: queued work fails with <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class ModelHost : IDisposable
{
    private readonly BlockingCollection<WorkItem> _queue = [];
    private readonly Thread _worker;
    private readonly TaskCompletionSource<ReelModel> _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();

    public ModelHost(ModelHostOptions options)
    {
        _worker = new Thread(() => Serve(options)) { IsBackground = true, Name = "reel-model-host" };
        _worker.Start();
    }

    /// <summary>Completes when the weights are loaded; faults with the load error (bad weights folder, device).</summary>
    public Task<ReelModel> Loaded => _loaded.Task;

    /// <summary>Generates one chunk's latents (see <see cref="VideoGenerator.GenerateChunk"/>); the result lives on the host's device.</summary>
    public Task<Tensor> GenerateChunkAsync(GenerationRequest request, ChunkSpan chunk, Tensor? previous,
        IGenerationProgress? progress = null, CancellationToken cancel = default) =>
        Enqueue(model => new VideoGenerator(model).GenerateChunk(request, chunk, previous, progress), cancel, "model.generate_chunk");

    /// <summary>Decodes latents to frames [T, 3, H, W] in [-1, 1], one streaming pass, handing each piece to <paramref name="onFrames"/>.</summary>
    public Task DecodeAsync(Tensor latents, Action<Tensor> onFrames, CancellationToken cancel = default) =>
        Enqueue(model =>
        {
            foreach (var frames in new VideoGenerator(model).Decode(latents))
                using (frames) onFrames(frames);
            return true;
        }, cancel, "model.decode");

    /// <summary>
    /// Runs <paramref name="work"/> on the host's thread after everything queued before it; a named work is a span of
    /// the caller's trace (the host's thread does not inherit it by itself).
    /// </summary>
    public Task<T> Enqueue<T>(Func<ReelModel, T> work, CancellationToken cancel = default, string? name = null)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var parent = Activity.Current?.Context ?? default;
        var item = new WorkItem(model =>
        {
            if (cancel.IsCancellationRequested)
            {
                result.TrySetCanceled(cancel);
                return;
            }
            using var span = name is null ? null : ReelTelemetry.Source.StartActivity(name, ActivityKind.Internal, parent);
            try
            {
                result.TrySetResult(work(model));
            }
            catch (Exception e)
            {
                result.TrySetException(e);
            }
        }, e => result.TrySetException(e));
        try
        {
            _queue.Add(item, CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            item.Fail(new ObjectDisposedException(nameof(ModelHost)));
        }
        return result.Task;
    }

    private void Serve(ModelHostOptions options)
    {
        ReelModel? model = null;
        Exception? loadError = null;
        try
        {
            set_num_threads(options.Threads);
            var clock = Stopwatch.StartNew();
            model = ModelSource.Open(options.Weights, options.Config, options.Runtime);
            ReelTelemetry.ModelLoaded(clock.Elapsed);
            _loaded.TrySetResult(model);
        }
        catch (Exception e)
        {
            loadError = e;
            _loaded.TrySetException(e);
        }
        try
        {
            foreach (var item in _queue.GetConsumingEnumerable(_stopping.Token))
            {
                if (model is null) item.Fail(loadError!);
                else item.Run(model);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: whatever is still queued is failed by Dispose.
        }
    }

    public void Dispose()
    {
        if (_stopping.IsCancellationRequested) return;
        // Stop taking work first, then refuse new work: nothing queued before the stop starts after it.
        _stopping.Cancel();
        _queue.CompleteAdding();
        _worker.Join();
        while (_queue.TryTake(out var pending)) pending.Fail(new ObjectDisposedException(nameof(ModelHost)));
        if (_loaded.Task.IsCompletedSuccessfully) _loaded.Task.Result.Dispose();
        _stopping.Dispose();
    }

    private sealed record WorkItem(Action<ReelModel> Run, Action<Exception> Fail);
}
