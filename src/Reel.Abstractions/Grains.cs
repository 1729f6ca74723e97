using Orleans.Concurrency;

namespace Reel.Abstractions;

/// <summary>
/// One video being made, keyed by <see cref="SessionKey"/> and active only on a model silo of its pool holding its
/// weights. Status, watch and cancel answer at once while a chunk runs: the chunk runs outside the grain's turn.
/// </summary>
public interface IGenerationSessionGrain : IGrainWithStringKey
{
    /// <summary>
    /// Called by the pool's admission queue: takes one of this silo's slots and starts the session. Null when the
    /// silo has no free slot (the queue tries again). Starting a session that already exists changes nothing.
    /// </summary>
    Task<SessionSnapshot?> Start(VideoRequest request, DateTimeOffset createdAt);

    /// <summary>
    /// Idempotent: an unfinished session that runs nowhere continues here from its last committed chunk. Null when this
    /// silo has no free slot; the session as it stands otherwise (already running, or finished).
    /// </summary>
    Task<SessionSnapshot?> Resume();

    /// <summary>The session, or null when no session has this key.</summary>
    [AlwaysInterleave]
    Task<SessionSnapshot?> GetStatus();

    /// <summary>Progress events after <paramref name="afterSeq"/>; waits up to <paramref name="wait"/> for one. Null when no session has this key.</summary>
    [AlwaysInterleave]
    Task<WatchResult?> Watch(long afterSeq, TimeSpan wait);

    /// <summary>
    /// Deletes a finished session: its artifacts and its state. False while it is queued or running (cancel it
    /// first); true also when there is nothing to delete.
    /// </summary>
    Task<bool> Delete();

    /// <summary>Stops the session within one denoising step; a finished session stays as it is. Null when no session has this key.</summary>
    [AlwaysInterleave]
    Task<SessionSnapshot?> Cancel();
}

/// <summary>
/// A pool's admission queue (key: the pool name), durable: holds sessions until a model silo of the pool has a free
/// slot, then starts them there. Model silos report their load to it.
/// </summary>
public interface IPoolGrain : IGrainWithStringKey
{
    /// <summary>
    /// Queues a new session of <paramref name="tenant"/>; <paramref name="weights"/> pins a weights version, null
    /// takes the pool's newest. Returns the session (queued, or already started when a slot was free).
    /// </summary>
    Task<SessionSnapshot> Submit(string tenant, VideoRequest request, string? weights = null);

    /// <summary>The session while it waits in this queue (or was cancelled there), else null.</summary>
    [AlwaysInterleave]
    Task<SessionSnapshot?> Find(string sessionKey);

    /// <summary>Cancels a session still waiting here; null when it is not here.</summary>
    Task<SessionSnapshot?> CancelQueued(string sessionKey);

    /// <summary>
    /// A model silo's current load. Every report also reconciles: sessions whose silo is no longer in the cluster are
    /// resumed on live ones, then waiting sessions are admitted where there is room.
    /// </summary>
    Task Report(SiloLoad load);

    /// <summary>Index of unfinished sessions: <paramref name="sessionKey"/> now runs on <paramref name="silo"/>.</summary>
    Task Running(string sessionKey, SiloAddress silo);

    /// <summary>Index of unfinished sessions: the session finished (completed, failed or cancelled).</summary>
    Task Finished(string sessionKey);

    /// <summary>The model the pool's newest weights serve (what a new session gets), or null while no silo reports.</summary>
    [AlwaysInterleave]
    Task<ServedModel?> Served();

    /// <summary>The live model silos of this pool and their loads. Interleaves: placement asks while an admission is in flight.</summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<SiloLoad>> Loads();
}

/// <summary>A tenant's videos in creation order (key: the tenant), durable: what listing pages through.</summary>
public interface ITenantVideosGrain : IGrainWithStringKey
{
    Task Add(SessionKey key, DateTimeOffset createdAt);

    Task Remove(SessionKey key);

    /// <summary>Up to <paramref name="limit"/> keys after the one named <paramref name="after"/> (by video id), newest first unless ascending.</summary>
    [ReadOnly]
    Task<VideoPage> Page(string? after, int limit, bool ascending);
}

[GenerateSerializer, Immutable]
public sealed record VideoPage([property: Id(0)] IReadOnlyList<SessionKey> Keys, [property: Id(1)] bool HasMore);
