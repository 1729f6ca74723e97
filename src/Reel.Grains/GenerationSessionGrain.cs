using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Reel.Abstractions;
using Reel.Inference;
using Reel.Media;
using Reel.Model;
using Reel.Storage;
using static TorchSharp.torch;

namespace Reel.Grains;

/// <summary>
/// One video, made chunk by chunk on the model silo it is pinned to. Each chunk's latents are written as an artifact,
/// then the state is committed; when every chunk is committed one streaming decode makes the MP4, thumbnail and
/// spritesheet. The chunk loop runs outside the grain's turns (awaiting the model host's thread), so status, watch
/// and cancel interleave with it.
/// </summary>
[ModelSessionPlacement, Immovable]
public sealed partial class GenerationSessionGrain(
    [PersistentState("session", ReelStorage.Name)] IPersistentState<SessionState> state,
    ModelHost host,
    ModelSiloSlots slots,
    ModelSiloOptions options,
    IArtifactStore artifacts,
    ILocalSiloDetails silo,
    ILogger<GenerationSessionGrain> logger) : Grain, IGenerationSessionGrain
{
    private const int MaxEvents = 512;
    private static readonly TimeSpan MaxWatchWait = TimeSpan.FromSeconds(20);

    private readonly List<ProgressEvent> _events = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _cancel;
    private Task? _run;
    private bool _deactivating;

    private SessionKey Key => SessionKey.Parse(this.GetPrimaryKeyString());
    private SessionState S => state.State;

    public async Task<bool> Start(VideoRequest request, DateTimeOffset createdAt)
    {
        if (state.RecordExists) return true;
        var key = Key;
        if (!slots.TryReserve(key.ToString()))
        {
            DeactivateOnIdle();
            return false;
        }
        S.Request = request;
        S.CreatedAt = createdAt;
        S.Silo = silo.SiloAddress.ToString();
        S.WeightsHash = options.WeightsHash;
        var model = await host.Loaded;
        try
        {
            var generation = GenerationRequests.From(request, model.Config);
            S.Caption = generation.Prompt;
            S.Plan = [.. ChunkPlanner.Plan(model.Config, generation.Frames, generation.Seed).Chunks.Select(PlannedChunk.From)];
            S.Status = SessionStatus.InProgress;
            Emit("started");
        }
        catch (ModelException e)
        {
            S.Status = SessionStatus.Failed;
            S.Error = new SessionError("invalid_request", e.Message);
            S.CompletedAt = DateTimeOffset.UtcNow;
            Emit(e.Message);
        }
        await state.WriteStateAsync();
        if (S.Status == SessionStatus.InProgress) _run = RunAsync(key, model);
        else slots.Release(key.ToString());
        return true;
    }

    public Task<SessionSnapshot?> GetStatus() => Task.FromResult(state.RecordExists ? Snapshot() : Absent());

    public async Task<WatchResult?> Watch(long afterSeq, TimeSpan wait)
    {
        if (!state.RecordExists) return null;
        if (S.Seq <= afterSeq && !Finished)
        {
            var timeout = wait < MaxWatchWait ? wait : MaxWatchWait;
            if (timeout > TimeSpan.Zero) await Task.WhenAny(_changed.Task, Task.Delay(timeout));
        }
        return new WatchResult([.. _events.Where(e => e.Seq > afterSeq)], Snapshot());
    }

    public async Task<SessionSnapshot?> Cancel()
    {
        if (!state.RecordExists) return Absent();
        if (Finished) return Snapshot();
        if (_run is { IsCompleted: false })
        {
            // The loop stops within one denoising step and commits the cancellation itself: one writer of the state.
            _cancel!.Cancel();
            await _run;
        }
        else
        {
            S.Status = SessionStatus.Cancelled;
            S.CompletedAt = DateTimeOffset.UtcNow;
            Emit("cancelled");
            await state.WriteStateAsync();
        }
        return Snapshot();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // A stopping silo leaves the committed state as it is (part 2 resumes from it); it does not mark the session failed.
        _deactivating = true;
        _cancel?.Cancel();
        if (_run is not null) await _run;
    }

    private bool Finished => S.Status is SessionStatus.Completed or SessionStatus.Failed or SessionStatus.Cancelled;

    private async Task RunAsync(SessionKey key, ReelModel model)
    {
        _cancel = new CancellationTokenSource();
        var cancel = _cancel.Token;
        // Idle collection would otherwise deactivate the grain between calls while its chunks run.
        using var keepAlive = this.RegisterGrainTimer(() => Task.CompletedTask,
            new GrainTimerCreationOptions(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)) { KeepAlive = true, Interleave = true });
        Tensor? video = null;
        try
        {
            var request = GenerationRequests.From(S.Request!, model.Config);
            if (S.Committed > 0) video = await LoadCommittedAsync(key, cancel);
            for (var i = S.Committed; i < S.Plan.Count; i++)
            {
                var chunk = S.Plan[i].ToSpan();
                S.Chunk = i;
                S.Silo = silo.SiloAddress.ToString();
                Emit($"chunk {i + 1}/{S.Plan.Count} started");
                LogChunkStarted(key.Session, i + 1, S.Plan.Count, S.Silo);
                using var latents = await GenerateChunkAsync(request, chunk, video, cancel);
                using (var bytes = new MemoryStream(LatentsFile.ToBytes(latents)))
                    await artifacts.WriteAsync(SessionArtifacts.Chunk(key, i), bytes, cancel);
                var stitched = await host.Enqueue(_ => VideoGenerator.Stitch(video, chunk, latents), cancel);
                video?.Dispose();
                video = stitched;
                S.Committed = i + 1;
                S.Progress = (double)S.Committed / S.Plan.Count;
                Emit($"chunk {i + 1}/{S.Plan.Count} committed");
                await state.WriteStateAsync();
                LogChunkCommitted(key.Session, i + 1, S.Plan.Count, S.Silo);
            }
            await WriteOutputsAsync(key, video!, model.Config.FrameRate, cancel);
            S.Status = SessionStatus.Completed;
            S.Progress = 1;
            S.CompletedAt = DateTimeOffset.UtcNow;
            Emit("completed");
            await state.WriteStateAsync();
        }
        catch (Exception) when (_deactivating)
        {
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            S.Status = SessionStatus.Cancelled;
            S.CompletedAt = DateTimeOffset.UtcNow;
            Emit("cancelled");
            await state.WriteStateAsync();
        }
        catch (Exception e)
        {
            LogFailed(e, key.Session);
            S.Status = SessionStatus.Failed;
            S.Error = new SessionError("generation_failed", e is ModelException ? e.Message : "Generating the video failed.");
            S.CompletedAt = DateTimeOffset.UtcNow;
            Emit(S.Error.Message);
            await state.WriteStateAsync();
        }
        finally
        {
            video?.Dispose();
            slots.Release(key.ToString());
        }
    }

    /// <summary>One chunk on the model host, turning its denoising steps into progress events as they happen.</summary>
    private async Task<Tensor> GenerateChunkAsync(GenerationRequest request, ChunkSpan chunk, Tensor? video, CancellationToken cancel)
    {
        var steps = new StepReporter(options.StepDelay, cancel);
        var work = host.GenerateChunkAsync(request, chunk, video, steps, cancel);
        var seen = 0;
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, steps.Next);
            var (step, total) = steps.Latest;
            if (step == seen || total == 0) continue;
            seen = step;
            S.Progress = (S.Committed + (double)step / total) / S.Plan.Count;
            Emit($"chunk {chunk.Index + 1}/{S.Plan.Count} step {step}/{total}");
        }
        return await work;
    }

    /// <summary>The video's latents so far, from the committed chunks' artifacts (after the session moved or its silo died).</summary>
    private async Task<Tensor> LoadCommittedAsync(SessionKey key, CancellationToken cancel)
    {
        var chunks = new List<byte[]>();
        for (var i = 0; i < S.Committed; i++)
        {
            await using var stream = await artifacts.OpenReadAsync(SessionArtifacts.Chunk(key, i), cancel)
                ?? throw new InvalidOperationException($"Committed chunk {i} of session {key.Session} has no latents artifact.");
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, cancel);
            chunks.Add(copy.ToArray());
        }
        var plan = S.Plan;
        return await host.Enqueue(_ =>
        {
            Tensor? video = null;
            for (var i = 0; i < chunks.Count; i++)
            {
                using var latents = LatentsFile.FromBytes(chunks[i]);
                var next = VideoGenerator.Stitch(video, plan[i].ToSpan(), latents);
                video?.Dispose();
                video = next;
            }
            return video!;
        }, cancel);
    }

    /// <summary>One streaming causal decode of all latents into the MP4, thumbnail and spritesheet; the latents stay beside them.</summary>
    private async Task WriteOutputsAsync(SessionKey key, Tensor video, int fps, CancellationToken cancel)
    {
        var frames = new List<RgbFrame>();
        await host.DecodeAsync(video, piece => frames.AddRange(FrameTensors.ToFrames(piece)), cancel);
        var folder = Directory.CreateTempSubdirectory("reel-session-");
        try
        {
            var files = new (string Path, ArtifactName Name)[]
            {
                (Path.Combine(folder.FullName, "video.mp4"), SessionArtifacts.Video(key)),
                (Path.Combine(folder.FullName, "thumbnail.webp"), SessionArtifacts.Thumbnail(key)),
                (Path.Combine(folder.FullName, "spritesheet.jpg"), SessionArtifacts.Spritesheet(key)),
            };
            await VideoFiles.WriteAsync(frames, frames.Count, fps, files[0].Path, files[1].Path, files[2].Path, cancel);
            foreach (var (path, name) in files)
            {
                await using var stream = File.OpenRead(path);
                await artifacts.WriteAsync(name, stream, cancel);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
        using (var bytes = new MemoryStream(LatentsFile.ToBytes(video)))
            await artifacts.WriteAsync(SessionArtifacts.Latents(key), bytes, cancel);
        // The whole sequence now holds every chunk: the per-chunk copies go.
        for (var i = 0; i < S.Plan.Count; i++) await artifacts.DeleteAsync(SessionArtifacts.Chunk(key, i), cancel);
    }

    private void Emit(string message)
    {
        S.Seq++;
        _events.Add(new ProgressEvent(S.Seq, S.Status, S.Progress, S.Chunk, S.Plan.Count, message, DateTimeOffset.UtcNow));
        if (_events.Count > MaxEvents) _events.RemoveAt(0);
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.SetResult();
    }

    private SessionSnapshot Snapshot() => new()
    {
        Key = Key, Status = S.Status, Request = S.Request!, Progress = S.Progress, Chunk = S.Chunk, Chunks = S.Plan.Count,
        CommittedChunks = S.Committed, Silo = S.Silo, WeightsHash = S.WeightsHash, Caption = S.Caption, Error = S.Error,
        Seq = S.Seq, CreatedAt = S.CreatedAt, CompletedAt = S.CompletedAt,
    };

    /// <summary>No session has this key: nothing to keep in memory.</summary>
    private SessionSnapshot? Absent()
    {
        DeactivateOnIdle();
        return null;
    }

    /// <summary>Hears denoising steps on the model host's thread; stops the chunk at the next step once cancelled.</summary>
    private sealed class StepReporter(TimeSpan delay, CancellationToken cancel) : IGenerationProgress
    {
        private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private (int Step, int Steps) _latest;

        public Task Next => Volatile.Read(ref _signal).Task;

        public (int Step, int Steps) Latest
        {
            get
            {
                lock (this) return _latest;
            }
        }

        public void OnStep(ChunkSpan chunk, int step, int steps)
        {
            cancel.ThrowIfCancellationRequested();
            if (delay > TimeSpan.Zero) cancel.WaitHandle.WaitOne(delay);
            cancel.ThrowIfCancellationRequested();
            lock (this) _latest = (step, steps);
            Interlocked.Exchange(ref _signal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }

        public void OnChunk(ChunkSpan chunk)
        {
        }
    }

    [LoggerMessage(LogLevel.Information, "Session {Session}: chunk {Chunk}/{Chunks} started on {Silo}")]
    private partial void LogChunkStarted(string session, int chunk, int chunks, string silo);

    [LoggerMessage(LogLevel.Information, "Session {Session}: chunk {Chunk}/{Chunks} committed on {Silo}")]
    private partial void LogChunkCommitted(string session, int chunk, int chunks, string silo);

    [LoggerMessage(LogLevel.Error, "Session {Session} failed")]
    private partial void LogFailed(Exception e, string session);
}
