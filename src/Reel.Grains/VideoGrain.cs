using Reel.Abstractions;
using Reel.Requests;
using Reel.Storage;

namespace Reel.Grains;

/// <summary>A video's durable record: its snapshot as of the last durable report.</summary>
[GenerateSerializer]
public sealed class VideoState
{
    [Id(0)] public SessionSnapshot? Video { get; set; }
}

/// <summary>
/// The one durable record of a video (see <see cref="IVideoGrain"/>). Its sequence numbers are its own, so a session
/// that resumes elsewhere (with an older count of its own) never goes back in its feed; reports of an activation
/// that fell behind (fewer committed chunks than recorded) are ignored. Step progress is kept in memory only: after
/// this grain moves, watchers start again from the last durable state.
/// </summary>
public sealed class VideoGrain(
    [PersistentState("video", ReelStorage.Name)] IPersistentState<VideoState> state,
    IArtifactStore artifacts) : Grain, IVideoGrain
{
    private const int MaxEvents = 512;
    private static readonly TimeSpan MaxWatchWait = TimeSpan.FromSeconds(20);

    private readonly List<ProgressEvent> _events = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SessionSnapshot? Video => state.State.Video;

    public async Task<SessionSnapshot> Create(SessionKey key, VideoRequest request, DateTimeOffset createdAt, ServedModel? model)
    {
        if (Video is { } existing) return existing;
        if (key.VideoGrainKey != this.GetPrimaryKeyString()) throw new ArgumentException($"Session {key} is not video {this.GetPrimaryKeyString()}.", nameof(key));
        var (size, seconds) = RequestCompiler.Expected(request, model);
        Record(new SessionSnapshot
        {
            Key = key, Status = SessionStatus.Queued, Request = request, CreatedAt = createdAt, Model = model?.Name, Size = size, Seconds = seconds,
        }, "queued");
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<ITenantVideosGrain>(key.Tenant).Add(Video!);
        return Video!;
    }

    public async Task<bool> Report(SessionSnapshot snapshot, string message, bool durable)
    {
        if (Video is not { } current || current.Status is SessionStatus.Cancelled) return false;
        if (current.IsFinished || snapshot.CommittedChunks < current.CommittedChunks) return true;
        // The record keeps what the session does not know: its place in the listing, its remix source's request as made,
        // and the model, size and length it will have until the session has planned them.
        Record(snapshot with
        {
            Request = current.Request, CreatedAt = current.CreatedAt, QueuePosition = null,
            Model = snapshot.Model ?? current.Model, Size = snapshot.Size ?? current.Size, Seconds = snapshot.Seconds ?? current.Seconds,
        }, message);
        if (durable) await SaveAsync();
        return true;
    }

    public Task Queued(int position)
    {
        if (Video is { Status: SessionStatus.Queued } queued && queued.QueuePosition != position)
            Record(queued with { QueuePosition = position }, $"queued, position {position}");
        return Task.CompletedTask;
    }

    public Task<SessionSnapshot?> Get() => Task.FromResult(Video ?? Absent());

    public async Task<WatchResult?> Watch(long afterSeq, TimeSpan wait)
    {
        if (Video is null) return null;
        if (Video.Seq <= afterSeq && !Video.IsFinished)
        {
            var timeout = wait < MaxWatchWait ? wait : MaxWatchWait;
            if (timeout > TimeSpan.Zero) await Task.WhenAny(_changed.Task, Task.Delay(timeout));
        }
        return new WatchResult([.. _events.Where(e => e.Seq > afterSeq)], Video!);
    }

    public async Task<SessionSnapshot?> Cancel()
    {
        if (Video is not { } video) return Absent();
        if (video.IsFinished) return video;
        var pool = GrainFactory.GetGrain<IPoolGrain>(video.Key.Pool);
        if (video.Status == SessionStatus.Queued && await pool.CancelQueued(video.Key.ToString())) return await EndCancelledAsync();
        // The session stops within one denoising step (one-way: no silo may serve its weights any more); the record
        // ends now, and a session that resumes later stops at its first report.
        GrainFactory.GetGrain<IGenerationSessionGrain>(video.Key.ToString()).Cancel().Ignore();
        return await EndCancelledAsync();
    }

    public async Task<DeleteOutcome> Delete()
    {
        if (Video is not { } video)
        {
            Absent();
            return DeleteOutcome.NotFound;
        }
        if (!video.IsFinished) return DeleteOutcome.Unfinished;
        foreach (var name in await artifacts.ListAsync(SessionArtifacts.Folder(video.Key))) await artifacts.DeleteAsync(name);
        foreach (var input in video.Request.Inputs)
            if (input.Upload is { } upload) await artifacts.DeleteAsync(ArtifactName.Parse(upload));
        GrainFactory.GetGrain<ITenantVideosGrain>(video.Key.Tenant).Remove(video.Key.Session).Ignore();
        await state.ClearStateAsync();
        _events.Clear();
        DeactivateOnIdle();
        return DeleteOutcome.Deleted;
    }

    /// <summary>A video cancelled here (still queued, or its session unreachable): the record ends and its tenant hears of it.</summary>
    private async Task<SessionSnapshot> EndCancelledAsync()
    {
        var ended = Video! with { Status = SessionStatus.Cancelled, CompletedAt = DateTimeOffset.UtcNow, QueuePosition = null };
        Record(ended with { ExpiresAt = ended.CompletedAt + ended.Request.Retention }, "cancelled");
        await SaveAsync();
        GrainFactory.GetGrain<ITenantAccountGrain>(ended.Key.Tenant).Finished(ended.Key, new SessionUsage(false, 0, 0)).Ignore();
        return Video!;
    }

    /// <summary>The new snapshot under this record's next sequence number, and its event for watchers.</summary>
    private void Record(SessionSnapshot snapshot, string message)
    {
        var seq = (Video?.Seq ?? 0) + 1;
        state.State.Video = snapshot with { Seq = seq };
        _events.Add(new ProgressEvent(seq, snapshot.Status, snapshot.Progress, snapshot.Chunk, snapshot.Chunks, message, DateTimeOffset.UtcNow));
        if (_events.Count > MaxEvents) _events.RemoveAt(0);
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.SetResult();
    }

    /// <summary>Stores the record, then tells the tenant's list (one-way: the list asks again for an unfinished entry it serves or sweeps).</summary>
    private async Task SaveAsync()
    {
        await state.WriteStateAsync();
        GrainFactory.GetGrain<ITenantVideosGrain>(Video!.Key.Tenant).Update(Video).Ignore();
    }

    /// <summary>No video has this key: nothing to keep in memory.</summary>
    private SessionSnapshot? Absent()
    {
        DeactivateOnIdle();
        return null;
    }

}
