using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Runtime.Placement;
using Orleans.Storage;
using Reel.Abstractions;
using Reel.Inference;
using Reel.Media;
using Reel.Model;
using Reel.Requests;
using Reel.Storage;
using static TorchSharp.torch;

namespace Reel.Grains;

/// <summary>
/// The worker that makes one video, chunk by chunk, on the model silo it is pinned to. Each chunk's latents are written
/// as an artifact, then the state is committed and the video's grain told; when every chunk is committed one streaming
/// decode makes the MP4, thumbnail and spritesheet. The chunk loop runs outside the grain's turns (awaiting the model
/// host's thread), so cancel interleaves with it. A finished session forgets its state: the video's grain is the record.
/// </summary>
[ModelSessionPlacement, Immovable]
public sealed partial class GenerationSessionGrain(
    [PersistentState("session", ReelStorage.Name)] IPersistentState<SessionState> state,
    ModelHost host,
    ModelSiloSlots slots,
    ModelSiloOptions options,
    StoreOutages outages,
    IArtifactStore artifacts,
    ILocalSiloDetails silo,
    ILogger<GenerationSessionGrain> logger) : Grain, IGenerationSessionGrain, IRemindable
{
    private const string ResumeReminder = "resume";

    /// <summary>Names this activation's chunk artifacts, so that a duplicate activation never overwrites a committed one.</summary>
    private readonly string _writer = Guid.NewGuid().ToString("N")[..12];

    private CancellationTokenSource? _cancel;
    private Task? _run;
    private bool _deactivating;

    private SessionKey? _key;

    private SessionKey Key => _key ??= SessionKey.Parse(this.GetPrimaryKeyString());
    private SessionState S => state.State;
    private bool Running => _run is { IsCompleted: false };
    private IPoolGrain Pool => GrainFactory.GetGrain<IPoolGrain>(Key.Pool);
    private IVideoGrain Video => GrainFactory.GetGrain<IVideoGrain>(Key.VideoGrainKey);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // An unfinished session activated here (its silo died, it moved here, the process restarted) continues from
        // its last commit when this silo has a free slot; otherwise the pool's reconciliation or the reminder resumes it.
        TryRun();
        return Task.CompletedTask;
    }

    public async Task<SessionSnapshot?> Start(VideoRequest request, DateTimeOffset createdAt, double share = 1)
    {
        if (state.RecordExists) return Snapshot();
        // A session that ran and finished has forgotten its work: the video's record says so, and nothing starts again.
        var record = await Video.Get();
        if (record is not { Status: SessionStatus.Queued }) return record ?? Absent();
        var key = Key;
        if (!slots.TryReserve(key.ToString()))
        {
            DeactivateOnIdle();
            return null;
        }
        S.Request = request;
        S.CreatedAt = createdAt;
        S.Share = share;
        S.StartedAt = DateTimeOffset.UtcNow;
        S.Silo = silo.SiloAddress.ToString();
        S.WeightsHash = options.WeightsHash;
        var model = await host.Loaded;
        try
        {
            // What can be checked without reading the inputs is refused at once; the job (and its plan) is built when the
            // session runs, and the caption of a request with inputs then, from what they show.
            var caption = RequestCompiler.Generation(request, model.Config).Prompt;
            S.Caption = request.Inputs.Any() ? null : caption;
            S.Model = model.Config.Name;
            S.Status = SessionStatus.InProgress;
        }
        catch (ModelException e)
        {
            slots.Release(key.ToString());
            await EndAsync(key, SessionStatus.Failed, new SessionError("invalid_request", e.Message));
            return await Video.Get();
        }
        await state.WriteStateAsync();
        await ReportAsync("started", durable: true);
        // The backstop: a reminder outlives the silo and re-activates the session if nothing else resumes it.
        await this.RegisterOrUpdateReminder(ResumeReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        _run = RunAsync(key);
        return Snapshot();
    }

    public async Task<SessionSnapshot?> Resume()
    {
        // No record: the session finished (and forgot its work) or never started; the video's record tells which.
        if (!state.RecordExists) return await Video.Get() ?? Absent();
        if (Finished || TryRun()) return Snapshot();
        // It cannot run here (no free slot, other weights): an idle activation would catch every later call, so the
        // pool's next try places a new one on the silo it names.
        DeactivateOnIdle();
        return null;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (state.RecordExists && !Finished)
        {
            // As in Resume: no room here, so the pool (or the next tick) places it afresh where there is.
            if (!TryRun()) DeactivateOnIdle();
            return;
        }
        if (state.RecordExists)
        {
            // It ended, but the video's record did not hear of it yet.
            await HandOverAsync();
            return;
        }
        if (await this.GetReminder(reminderName) is { } reminder) await this.UnregisterReminder(reminder);
    }

    public async Task Cancel()
    {
        if (!state.RecordExists)
        {
            Absent();
            return;
        }
        if (Finished) return;
        // A running loop stops within one denoising step and commits the cancellation itself: one writer of the state.
        if (Running) _cancel!.Cancel();
        else await EndAsync(Key, SessionStatus.Cancelled, null);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // A stopping silo leaves the committed state as it is: the session resumes elsewhere from it. The runtime also
        // deactivates running sessions on silos that stay (Orleans deactivates the activations whose directory entry a
        // dead silo held): their chunk in progress is lost, and the pool resumes them once this silo's load reports
        // leave them out.
        if (Running) LogDeactivatedWhileRunning(Key.Session, silo.SiloAddress.ToString(), reason.ToString());
        _deactivating = true;
        _cancel?.Cancel();
        if (_run is not null) await _run;
    }

    private bool Finished => S.Status is SessionStatus.Completed or SessionStatus.Failed or SessionStatus.Cancelled;

    /// <summary>Starts the chunk loop if the session is unfinished, not running and this silo has a slot; true when it runs.</summary>
    private bool TryRun()
    {
        if (!state.RecordExists || S.Status != SessionStatus.InProgress || _deactivating) return false;
        if (Running) return true;
        // Continuation must use the weights the committed chunks were made with.
        if (S.Committed > 0 && S.WeightsHash != options.WeightsHash) return false;
        if (!slots.TryReserve(Key.ToString())) return false;
        _run = RunAsync(Key);
        return true;
    }

    private async Task RunAsync(SessionKey key)
    {
        // The call that started the loop may carry a placement hint: it must not follow the loop's own calls.
        RequestContext.Clear();
        _cancel = new CancellationTokenSource();
        var cancel = _cancel.Token;
        // Idle collection would otherwise deactivate the grain between calls while its chunks run.
        using var keepAlive = this.RegisterGrainTimer(() => Task.CompletedTask,
            new GrainTimerCreationOptions(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)) { KeepAlive = true, Interleave = true });
        Tensor? video = null;
        SessionJob? job = null;
        try
        {
            var model = await host.Loaded;
            S.WeightsHash = options.WeightsHash;
            await TellPoolAsync(pool => pool.Running(key.ToString(), silo.SiloAddress));
            job = await PrepareAsync(key, cancel);
            var request = job.Job.Request;
            if (S.Plan.Count == 0)
            {
                S.Plan = [.. new VideoGenerator(model).Plan(request).Chunks.Select(PlannedChunk.From)];
                (S.Size, S.Seconds, S.Caption) = (job.Size.ToString(), FrameCount.Seconds(model.Config, job.Job.OutputFrames), request.Prompt);
                await CommitAsync($"planned {S.Plan.Count} chunk(s)", cancel);
            }
            if (S.Committed > 0) ReelTelemetry.SessionResumes.Add(1);
            video = S.Committed > 0 ? await LoadCommittedAsync(request.Continues, cancel) : request.Continues?.alias();
            for (var i = S.Committed; i < S.Plan.Count; i++)
            {
                var chunk = S.Plan[i].ToSpan();
                S.Chunk = i;
                S.Silo = silo.SiloAddress.ToString();
                await ReportAsync($"chunk {i + 1}/{S.Plan.Count} started");
                LogChunkStarted(key.Session, i + 1, S.Plan.Count, S.Silo);
                using var latents = await GenerateChunkAsync(request, chunk, video, $"chunk {i + 1}/{S.Plan.Count}", cancel);
                var artifact = SessionArtifacts.Chunk(key, i, _writer);
                var bytes = LatentsFile.ToBytes(latents);
                await outages.RunAsync(() => artifacts.WriteAllBytesAsync(artifact, bytes, cancel), "chunk artifact", cancel);
                var stitched = await host.Enqueue(_ => VideoGenerator.Stitch(video, chunk, latents), cancel);
                video?.Dispose();
                video = stitched;
                S.Committed = i + 1;
                S.ChunkArtifacts.Add(artifact.Value);
                S.ChunkSilos.Add(S.Silo);
                S.Progress = (double)S.Committed / S.Plan.Count;
                await CommitAsync($"chunk {i + 1}/{S.Plan.Count} committed", cancel);
                cancel.ThrowIfCancellationRequested();
                LogChunkCommitted(key.Session, i + 1, S.Plan.Count, S.Silo);
                if (S.Committed < S.Plan.Count)
                {
                    // The pool decides: a draining silo hands every session on (or leaves it to the pool, which resumes
                    // it where there is room); otherwise the migration policy.
                    var target = await NextSiloAsync(key);
                    if (target is null && slots.Draining)
                    {
                        await ReportAsync("waiting for a silo (this one is draining)");
                        LogDrainedWithoutTarget(key.Session, S.Silo);
                        // The next call (the pool's resume) places the session afresh, away from this silo.
                        DeactivateOnIdle();
                        return;
                    }
                    if (target is not null)
                    {
                        await ReportAsync($"moving to {target}{(slots.Draining ? " (draining)" : "")}");
                        LogMoving(key.Session, S.Silo, target.ToString());
                        RequestContext.Set(IPlacementDirector.PlacementHintKey, target);
                        this.MigrateOnIdle();
                        RequestContext.Remove(IPlacementDirector.PlacementHintKey);
                        return;
                    }
                }
            }
            await WriteOutputsAsync(key, video!, job.Job, model.Config, cancel);
            await EndAsync(key, SessionStatus.Completed, null);
        }
        catch (InconsistentStateException)
        {
            // Another activation of this session committed newer state (a failover duplicate): this one stops
            // without writing; its chunk artifacts carry its own name and are swept when the session ends.
            LogStale(key.Session, silo.SiloAddress.ToString());
            DeactivateOnIdle();
        }
        catch (Exception) when (_deactivating)
        {
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            await EndAsync(key, SessionStatus.Cancelled, null);
        }
        catch (StoreUnavailableException e)
        {
            LogFailed(e, key.Session);
            await EndAsync(key, SessionStatus.Failed, new SessionError(e.Code, e.Message));
        }
        catch (Exception e)
        {
            LogFailed(e, key.Session);
            await EndAsync(key, SessionStatus.Failed,
                new SessionError("generation_failed", e is ModelException or MediaException ? e.Message : "Generating the video failed."));
        }
        finally
        {
            video?.Dispose();
            job?.Dispose();
            slots.Release(key.ToString());
        }
    }

    /// <summary>
    /// The session's job from its request and inputs. A loop's first pass is made once and kept as an artifact, so a
    /// resumed loop builds the same job from it.
    /// </summary>
    private async Task<SessionJob> PrepareAsync(SessionKey key, CancellationToken cancel)
    {
        var jobs = new SessionJobs(host, artifacts, GrainFactory, options.WeightsHash);
        using var kept = S.LoopHeadCommitted ? await ReadLatentsAsync(SessionArtifacts.LoopHead(key), cancel) : null;
        var job = await jobs.PrepareAsync(key, S.Request!, kept, cancel);
        if (job.LoopHead is not { } chunk) return job;
        Tensor head;
        using (job)
        {
            await ReportAsync("loop: first pass started");
            head = await GenerateChunkAsync(job.Job.Request, chunk, null, "loop: first pass", cancel);
        }
        using (head)
        {
            await artifacts.WriteAllBytesAsync(SessionArtifacts.LoopHead(key), LatentsFile.ToBytes(head), cancel);
            S.LoopHeadCommitted = true;
            await state.WriteStateAsync();
            await ReportAsync("loop: first pass committed", durable: true);
            return await jobs.PrepareAsync(key, S.Request!, head, cancel);
        }
    }

    private async Task<Tensor> ReadLatentsAsync(ArtifactName name, CancellationToken cancel) =>
        LatentsFile.FromBytes(await artifacts.ReadAllBytesAsync(name, cancel)
            ?? throw new InvalidOperationException($"Committed latents {name} are missing."));

    /// <summary>Where the session continues after a commit, as its pool decides; null to stay (or when the pool cannot answer).</summary>
    private async Task<SiloAddress?> NextSiloAsync(SessionKey key)
    {
        try
        {
            return await Pool.NextSilo(key.ToString(), silo.SiloAddress, options.Migration, slots.Draining);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogPoolUnreachable(key.Session, e.Message);
            return null;
        }
    }

    /// <summary>
    /// The pool's index is soft for a session: when the pool cannot answer (it is moving, or lost a write race), the
    /// session carries on; the pool's reconciliation (and the reminder) heal the index from the sessions' own state.
    /// </summary>
    private Task TellPoolAsync(Func<IPoolGrain, Task> call) => TellAsync(() => call(Pool));

    /// <summary>The same for the tenant's account: it reconciles its active videos from their own state when a limit is reached.</summary>
    private async Task TellAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogPoolUnreachable(Key.Session, e.Message);
        }
    }

    /// <summary>
    /// Commits a final status and hands it to the video's record; a cancelled session's artifacts go; the pool's index,
    /// the tenant's account and the reminder forget it. Once the record has it the session forgets its own state; until
    /// then the reminder retries the hand-over.
    /// </summary>
    private async Task EndAsync(SessionKey key, SessionStatus status, SessionError? error)
    {
        S.Status = status;
        S.Error = error;
        S.CompletedAt = DateTimeOffset.UtcNow;
        S.ExpiresAt = S.CompletedAt + S.Request?.Retention;
        if (status == SessionStatus.Failed) ReelTelemetry.SessionFailures.Add(1, new KeyValuePair<string, object?>("pool", options.Pool));
        if (status == SessionStatus.Completed) S.Progress = 1;
        await outages.RunAsync(state.WriteStateAsync, "session state");
        if (status == SessionStatus.Cancelled)
            foreach (var name in await artifacts.ListAsync(SessionArtifacts.Folder(key))) await artifacts.DeleteAsync(name);
        await DeleteUploadsAsync();
        await TellPoolAsync(pool => pool.Finished(key.ToString()));
        var usage = new SessionUsage(status == SessionStatus.Completed, status == SessionStatus.Completed ? S.Seconds ?? 0 : 0, S.ModelSeconds);
        await TellAsync(() => GrainFactory.GetGrain<ITenantAccountGrain>(key.Tenant).Finished(key, usage));
        await HandOverAsync();
    }

    /// <summary>The final status to the video's record; then this session's state and reminder go.</summary>
    private async Task HandOverAsync()
    {
        await ReportAsync(S.Error?.Message ?? S.Status.ToString().ToLowerInvariant(), durable: true);
        await state.ClearStateAsync();
        if (await this.GetReminder(ResumeReminder) is { } reminder) await this.UnregisterReminder(reminder);
    }

    /// <summary>The request's uploaded inputs: a finished session needs them no more (its output holds what it made).</summary>
    private async Task DeleteUploadsAsync()
    {
        foreach (var input in S.Request?.Inputs ?? [])
            if (input.Upload is { } upload) await artifacts.DeleteAsync(ArtifactName.Parse(upload));
    }

    /// <summary>One chunk on the model host, turning its denoising steps into progress events as they happen.</summary>
    private async Task<Tensor> GenerateChunkAsync(GenerationRequest request, ChunkSpan chunk, Tensor? video, string label, CancellationToken cancel)
    {
        var steps = new StepReporter(options.StepDelay, cancel);
        using var span = ReelTelemetry.Source.StartActivity("session.chunk");
        span?.SetTag("reel.session", Key.Session);
        span?.SetTag("reel.chunk", chunk.Index);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var work = host.GenerateChunkAsync(request, chunk, video, steps, cancel, new TenantShare(Key.Tenant, S.Share));
        var seen = 0;
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, steps.Next);
            var (step, total) = steps.Latest;
            if (step == seen || total == 0) continue;
            seen = step;
            if (S.Plan.Count > 0) S.Progress = (S.Committed + (double)step / total) / S.Plan.Count;
            await ReportAsync($"{label} step {step}/{total}");
        }
        var latents = await work;
        S.ModelSeconds += clock.Elapsed.TotalSeconds;
        ReelTelemetry.ChunkDuration.Record(clock.Elapsed.TotalSeconds, new KeyValuePair<string, object?>("pool", options.Pool));
        return latents;
    }

    /// <summary>The video's latents so far (after the session moved or its silo died): the continued video's, then the committed chunks'.</summary>
    private async Task<Tensor> LoadCommittedAsync(Tensor? continues, CancellationToken cancel)
    {
        var chunks = new List<Tensor>();
        try
        {
            for (var i = 0; i < S.Committed; i++) chunks.Add(await ReadLatentsAsync(ArtifactName.Parse(S.ChunkArtifacts[i]), cancel));
            var plan = S.Plan;
            return await host.Enqueue(_ =>
            {
                var video = continues?.alias();
                for (var i = 0; i < chunks.Count; i++)
                {
                    var next = VideoGenerator.Stitch(video, plan[i].ToSpan(), chunks[i]);
                    video?.Dispose();
                    video = next;
                }
                return video!;
            }, cancel);
        }
        finally
        {
            foreach (var chunk in chunks) chunk.Dispose();
        }
    }

    /// <summary>
    /// One streaming causal decode of all latents into the MP4, thumbnail and spritesheet. The latents stay beside them
    /// when they decode to the output (not for a connection, whose output holds its sources' own frames).
    /// </summary>
    private async Task WriteOutputsAsync(SessionKey key, Tensor video, VideoJob job, ModelConfig config, CancellationToken cancel)
    {
        var decoded = new List<RgbFrame>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await host.DecodeAsync(video, piece => decoded.AddRange(FrameTensors.ToFrames(piece)), cancel);
        S.ModelSeconds += clock.Elapsed.TotalSeconds;
        var frames = job.Output(decoded).ToList();
        ReelTelemetry.FramesGenerated.Add(frames.Count, new KeyValuePair<string, object?>("pool", options.Pool));
        var folder = Directory.CreateTempSubdirectory("reel-session-");
        try
        {
            var files = new (string Path, ArtifactName Name)[]
            {
                (Path.Combine(folder.FullName, "video.mp4"), SessionArtifacts.Video(key)),
                (Path.Combine(folder.FullName, "thumbnail.webp"), SessionArtifacts.Thumbnail(key)),
                (Path.Combine(folder.FullName, "spritesheet.jpg"), SessionArtifacts.Spritesheet(key)),
            };
            await VideoFiles.WriteAsync(frames, frames.Count, config.FrameRate, files[0].Path, files[1].Path, files[2].Path, cancel);
            foreach (var (path, name) in files)
                await outages.RunAsync(async () =>
                {
                    await using var stream = File.OpenRead(path);
                    await artifacts.WriteAsync(name, stream, cancel);
                }, name.Value, cancel);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
        if (job.OutputLatentFrames(config) is { } kept)
        {
            using var output = video[.., .., ..kept];
            var bytes = LatentsFile.ToBytes(output);
            await outages.RunAsync(() => artifacts.WriteAllBytesAsync(SessionArtifacts.Latents(key), bytes, cancel), "output latents", cancel);
        }
        // The outputs now hold every chunk: the per-chunk copies go, with any a stale duplicate left behind, and a loop's first pass.
        await outages.RunAsync(async () =>
        {
            foreach (var name in await artifacts.ListAsync(SessionArtifacts.Chunks(key), cancel)) await artifacts.DeleteAsync(name, cancel);
            await artifacts.DeleteAsync(SessionArtifacts.LoopHead(key), cancel);
        }, "chunk artifacts", cancel);
    }

    /// <summary>
    /// Commits the session's state, then tells the video's record: each waits out a store outage (within the budget),
    /// so an outage delays the video and loses nothing.
    /// </summary>
    private async Task CommitAsync(string message, CancellationToken cancel)
    {
        await outages.RunAsync(state.WriteStateAsync, "session state", cancel);
        await outages.RunAsync(() => ReportAsync(message, durable: true), "video record", cancel);
    }

    /// <summary>
    /// Tells the video's record where the session stands. Durable reports (start, plan, commits, the end) must arrive;
    /// step progress may be lost. When the record says the video was cancelled or deleted the session stops.
    /// </summary>
    private async Task ReportAsync(string message, bool durable = false)
    {
        S.Seq++;
        bool keepGoing;
        try
        {
            keepGoing = await Video.Report(Snapshot(), message, durable);
        }
        catch (Exception e) when (!durable && e is OrleansException or TimeoutException)
        {
            LogReportMissed(Key.Session, e.Message);
            return;
        }
        if (!keepGoing && !Finished) _cancel?.Cancel();
    }

    /// <summary>
    /// The session as its video's record stores it. Lists are arrays: JSON grain storage records a list's concrete type,
    /// and a compiler-made collection type (what a collection expression gives a read-only list) cannot be read back.
    /// </summary>
    private SessionSnapshot Snapshot() => new()
    {
        Key = Key, Status = S.Status, Request = S.Request!, Progress = S.Progress, Chunk = S.Chunk, Chunks = S.Plan.Count,
        CommittedChunks = S.Committed, Silo = S.Silo, WeightsHash = S.WeightsHash, Caption = S.Caption, Error = S.Error,
        Seq = S.Seq, CreatedAt = S.CreatedAt, CompletedAt = S.CompletedAt, ChunkSilos = S.ChunkSilos.ToArray(),
        Model = S.Model, Size = S.Size, Seconds = S.Seconds, StartedAt = S.StartedAt, ExpiresAt = S.ExpiresAt,
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
        private long _lastStep = System.Diagnostics.Stopwatch.GetTimestamp();

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
            // The model's own time per step (the test setting's pause below is not counted).
            ReelTelemetry.StepDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(_lastStep).TotalSeconds);
            cancel.ThrowIfCancellationRequested();
            if (delay > TimeSpan.Zero) cancel.WaitHandle.WaitOne(delay);
            cancel.ThrowIfCancellationRequested();
            lock (this) _latest = (step, steps);
            _lastStep = System.Diagnostics.Stopwatch.GetTimestamp();
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

    [LoggerMessage(LogLevel.Information, "Session {Session}: moving from {From} to {To}")]
    private partial void LogMoving(string session, string from, string to);

    [LoggerMessage(LogLevel.Information, "Session {Session}: {Silo} drains and no other silo of the pool has room; the pool resumes it later")]
    private partial void LogDrainedWithoutTarget(string session, string silo);

    [LoggerMessage(LogLevel.Warning, "Session {Session}: deactivated on {Silo} inside its chunk loop ({Reason}); it continues from its last commit")]
    private partial void LogDeactivatedWhileRunning(string session, string silo, string reason);

    [LoggerMessage(LogLevel.Warning, "Session {Session}: a newer activation committed; this one on {Silo} stops")]
    private partial void LogStale(string session, string silo);

    [LoggerMessage(LogLevel.Debug, "Session {Session}: a progress report to the video was lost ({Reason})")]
    private partial void LogReportMissed(string session, string reason);

    [LoggerMessage(LogLevel.Warning, "Session {Session}: the pool did not answer ({Reason}); carrying on")]
    private partial void LogPoolUnreachable(string session, string reason);

    [LoggerMessage(LogLevel.Error, "Session {Session} failed")]
    private partial void LogFailed(Exception e, string session);
}
