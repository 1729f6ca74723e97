using System.Diagnostics;
using System.Collections.Concurrent;
using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Inference;

/// <summary>
/// A loaded model and the work for it, served by one dedicated thread — never the .NET thread pool, where a
/// multi-second libtorch call would starve the silo's messaging and liveness probes. Callers await the result.
/// Chunks are scheduled a denoising step at a time: the chunks of every session on the host that share a latent shape
/// take their next step in one DiT pass (up to <see cref="ModelHostOptions.MaxBatch"/>, chosen by
/// <see cref="StepScheduler{TJob}"/>), joining and leaving between steps; a chunk comes out the same bits as run
/// alone (<see cref="ChunkSampling"/>). Other work (a decode, a measurement) runs whole, one item between two steps.
/// Disposing stops the thread: pending work fails with <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class ModelHost : IDisposable
{
    private readonly BlockingCollection<IHostWork> _queue = [];
    private readonly Thread _worker;
    private readonly TaskCompletionSource<ReelModel> _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly StepScheduler<ChunkJob> _chunks;

    public ModelHost(ModelHostOptions options)
    {
        _chunks = new StepScheduler<ChunkJob>(options.MaxBatch);
        _worker = new Thread(() => Serve(options)) { IsBackground = true, Name = "reel-model-host" };
        _worker.Start();
    }

    /// <summary>Completes when the weights are loaded; faults with the load error (bad weights folder, device).</summary>
    public Task<ReelModel> Loaded => _loaded.Task;

    /// <summary>With <see cref="ModelHostOptions.FasterDtype"/>: what each precision measured, set before <see cref="Loaded"/> completes.</summary>
    public PrecisionTiming? DtypeTiming { get; private set; }

    /// <summary>Chunks taken by one denoising step at most.</summary>
    public int MaxBatch => _chunks.MaxBatch;

    /// <summary>
    /// Generates one chunk's latents (see <see cref="VideoGenerator.GenerateChunk"/>), its steps batched with other
    /// chunks'; the result lives on the host's device. <paramref name="owner"/>'s share weighs its steps against other
    /// tenants' when more chunks wait than a step takes.
    /// </summary>
    public Task<Tensor> GenerateChunkAsync(GenerationRequest request, ChunkSpan chunk, Tensor? previous,
        IGenerationProgress? progress = null, CancellationToken cancel = default, TenantShare? owner = null)
    {
        var job = new ChunkJob(request, chunk, previous, progress, owner ?? TenantShare.Anyone, cancel, Activity.Current?.Context ?? default);
        Add(job);
        return job.Result.Task;
    }

    /// <summary>Decodes latents to frames [T, 3, H, W] in [-1, 1], one streaming pass, handing each piece to <paramref name="onFrames"/>.</summary>
    public Task DecodeAsync(Tensor latents, Action<Tensor> onFrames, CancellationToken cancel = default) =>
        Enqueue(model =>
        {
            foreach (var frames in new VideoGenerator(model).Decode(latents))
                using (frames) onFrames(frames);
            return true;
        }, cancel, "model.decode");

    /// <summary>
    /// Runs <paramref name="work"/> on the host's thread, whole, after the work queued before it; a named work is a
    /// span of the caller's trace (the host's thread does not inherit it by itself).
    /// </summary>
    public Task<T> Enqueue<T>(Func<ReelModel, T> work, CancellationToken cancel = default, string? name = null)
    {
        var item = new WholeWork<T>(work, cancel, name, Activity.Current?.Context ?? default);
        Add(item);
        return item.Result.Task;
    }

    private void Add(IHostWork work)
    {
        try
        {
            _queue.Add(work, CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            work.Fail(new ObjectDisposedException(nameof(ModelHost)));
        }
    }

    private void Serve(ModelHostOptions options)
    {
        ReelModel? model = null;
        Exception? loadError = null;
        try
        {
            set_num_threads(options.Threads);
            var clock = Stopwatch.StartNew();
            var runtime = options.Runtime;
            if (options.FasterDtype)
            {
                DtypeTiming = PrecisionProbe.Serving(ModelSource.ConfigFor(options.Weights, options.Config), runtime.Device);
                runtime = runtime with { Dtype = DtypeTiming.Faster };
            }
            model = ModelSource.Open(options.Weights, options.Config, runtime);
            ReelTelemetry.ModelLoaded(clock.Elapsed);
            _loaded.TrySetResult(model);
        }
        catch (Exception e)
        {
            loadError = e;
            _loaded.TrySetException(e);
        }
        var whole = new Queue<IHostWork>();
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                // Block only when there is nothing to do; otherwise take what has arrived and go on stepping.
                if (_chunks.Count == 0 && whole.Count == 0) Admit(_queue.Take(_stopping.Token), model, loadError, whole);
                while (_queue.TryTake(out var arrived)) Admit(arrived, model, loadError, whole);
                if (whole.TryDequeue(out var work)) work.Run(model!);
                if (_chunks.Count > 0) Step(model!);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: whatever is still pending is failed by Dispose.
        }
        foreach (var pending in whole) pending.Fail(new ObjectDisposedException(nameof(ModelHost)));
    }

    private void Admit(IHostWork work, ReelModel? model, Exception? loadError, Queue<IHostWork> whole)
    {
        if (model is null) work.Fail(loadError!);
        else if (work is ChunkJob job)
        {
            if (job.Start(model)) _chunks.Add(job, job.Owner, job.Sampling!.Shape);
        }
        else whole.Enqueue(work);
    }

    /// <summary>One denoising step of the scheduler's next batch; chunks that finish, fail or are cancelled leave it.</summary>
    private void Step(ReelModel model)
    {
        foreach (var cancelled in _chunks.Jobs.Where(j => j.Cancel.IsCancellationRequested).ToList()) Leave(cancelled, j => j.Canceled());
        if (_chunks.Count == 0) return;
        var batch = _chunks.NextBatch();
        bool[] stepped;
        try
        {
            stepped = ChunkSampling.StepTogether(model.Dit, model.Config.MaxCaptionTokens, batch.Select(j => j.Sampling!).ToList());
        }
        catch (Exception e)
        {
            foreach (var job in batch) Leave(job, j => j.Fail(e));
            return;
        }
        ReelTelemetry.BatchSize.Record(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var job = batch[i];
            try
            {
                if (stepped[i]) job.Progress?.OnStep(job.Chunk, job.Sampling!.Step, job.Sampling.Steps);
                if (!job.Sampling!.Done) continue;
                var latents = job.Sampling.Result();
                job.Progress?.OnChunk(job.Chunk);
                Leave(job, j => j.Complete(latents));
                // The chunk's temporaries are freed: give their heap memory back (see NativeMemoryPolicy).
                NativeMemoryPolicy.ReleaseFreedMemory();
            }
            catch (OperationCanceledException) when (job.Cancel.IsCancellationRequested)
            {
                Leave(job, j => j.Canceled());
            }
            catch (Exception e)
            {
                Leave(job, j => j.Fail(e));
            }
        }
    }

    private void Leave(ChunkJob job, Action<ChunkJob> outcome)
    {
        _chunks.Remove(job);
        outcome(job);
    }

    public void Dispose()
    {
        if (_stopping.IsCancellationRequested) return;
        // Stop taking work first, then refuse new work: nothing queued before the stop starts after it.
        _stopping.Cancel();
        _queue.CompleteAdding();
        _worker.Join();
        foreach (var job in _chunks.Jobs.ToList()) Leave(job, j => j.Fail(new ObjectDisposedException(nameof(ModelHost))));
        while (_queue.TryTake(out var pending)) pending.Fail(new ObjectDisposedException(nameof(ModelHost)));
        if (_loaded.Task.IsCompletedSuccessfully) _loaded.Task.Result.Dispose();
        _stopping.Dispose();
    }

    private interface IHostWork
    {
        void Run(ReelModel model);
        void Fail(Exception error);
    }

    private sealed class WholeWork<T>(Func<ReelModel, T> work, CancellationToken cancel, string? name, ActivityContext parent) : IHostWork
    {
        public TaskCompletionSource<T> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Run(ReelModel model)
        {
            if (cancel.IsCancellationRequested)
            {
                Result.TrySetCanceled(cancel);
                return;
            }
            using var span = name is null ? null : ReelTelemetry.Source.StartActivity(name, ActivityKind.Internal, parent);
            try
            {
                Result.TrySetResult(work(model));
            }
            catch (Exception e)
            {
                Result.TrySetException(e);
            }
        }

        public void Fail(Exception error) => Result.TrySetException(error);
    }

    /// <summary>A chunk on the host: prepared when it arrives, then stepped until done; a span of its caller's trace.</summary>
    private sealed class ChunkJob(GenerationRequest request, ChunkSpan chunk, Tensor? previous, IGenerationProgress? progress,
        TenantShare owner, CancellationToken cancel, ActivityContext parent) : IHostWork
    {
        private Activity? _span;

        public TaskCompletionSource<Tensor> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public ChunkSpan Chunk => chunk;
        public IGenerationProgress? Progress => progress;
        public TenantShare Owner => owner;
        public CancellationToken Cancel => cancel;
        public ChunkSampling? Sampling { get; private set; }

        /// <summary>Prepares the chunk; false (and the caller's task settled) when it is cancelled or cannot start.</summary>
        public bool Start(ReelModel model)
        {
            if (cancel.IsCancellationRequested)
            {
                Result.TrySetCanceled(cancel);
                return false;
            }
            _span = ReelTelemetry.Source.StartActivity("model.generate_chunk", ActivityKind.Internal, parent);
            try
            {
                Sampling = new VideoGenerator(model).StartChunk(request, chunk, previous);
                return true;
            }
            catch (Exception e)
            {
                Fail(e);
                return false;
            }
        }

        public void Run(ReelModel model) => throw new InvalidOperationException("A chunk is stepped, not run whole.");

        public void Complete(Tensor latents)
        {
            End();
            Result.TrySetResult(latents);
        }

        public void Canceled()
        {
            End();
            Result.TrySetCanceled(cancel);
        }

        public void Fail(Exception error)
        {
            End();
            Result.TrySetException(error);
        }

        private void End()
        {
            Sampling?.Dispose();
            _span?.Dispose();
        }
    }
}
