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
    /// takes the pool's newest; <paramref name="share"/> is the tenant's weight in the pool's weighted round-robin.
    /// Returns the session (queued, or already started when a slot was free).
    /// </summary>
    Task<SessionSnapshot> Submit(string tenant, VideoRequest request, string? weights = null, double share = 1);

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

/// <summary>
/// A tenant's account (key: the tenant), durable: its videos in creation order (what listing pages through), the
/// counters its limits are checked against (shared by every gateway replica), its usage per day, its idempotency keys,
/// and the sweep that expires its videos and deletes orphaned artifacts. Creates of one tenant are serialised here.
/// </summary>
public interface ITenantAccountGrain : IGrainWithStringKey
{
    /// <summary>Creates a video unless a limit refuses it; an idempotency key seen before replays or conflicts.</summary>
    Task<CreateResult> Create(CreateVideo command);

    /// <summary>
    /// A session ended (completed, failed or cancelled): its slot frees, its usage is counted and its webhook event
    /// queued, once. One-way: a session never waits on its tenant's account.
    /// </summary>
    [OneWay]
    Task Finished(SessionKey key, SessionUsage usage);

    Task Remove(SessionKey key);

    /// <summary>Up to <paramref name="limit"/> keys after the one named <paramref name="after"/> (by video id), newest first unless ascending.</summary>
    [ReadOnly]
    Task<VideoPage> Page(string? after, int limit, bool ascending);

    /// <summary>Usage of the last <paramref name="days"/> UTC days (today included), newest first.</summary>
    [ReadOnly]
    Task<IReadOnlyList<DailyUsage>> Usage(int days);

    /// <summary>Deletes expired videos and orphaned artifacts now (the account also does it every sweep period).</summary>
    Task<SweepReport> Sweep();
}

/// <summary>A tenant's limits from the tenants file, handed to its account with each create; null is unlimited.</summary>
[GenerateSerializer, Immutable]
public sealed record TenantLimits
{
    [Id(0)] public int? MaxActiveVideos { get; init; }
    [Id(1)] public double? SecondsPerDay { get; init; }
    [Id(2)] public long? StorageBytes { get; init; }

    /// <summary>The tenant's share of its pool's model silos when tenants compete (weighted round-robin).</summary>
    [Id(3)] public double Weight { get; init; } = 1;

    public static TenantLimits None { get; } = new();
}

/// <summary>
/// A create as the account checks it: <paramref name="ChargedSeconds"/> count toward the tenant's seconds per day;
/// <paramref name="Fingerprint"/> identifies the request (parsed fields, uploads' hashes) under its idempotency key.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record CreateVideo(
    [property: Id(0)] string Pool,
    [property: Id(1)] VideoRequest Request,
    [property: Id(2)] TenantLimits Limits,
    [property: Id(3)] double ChargedSeconds,
    [property: Id(4)] string? IdempotencyKey = null,
    [property: Id(5)] string? Fingerprint = null,
    [property: Id(6)] string? Weights = null,
    [property: Id(7)] TenantWebhook? Webhook = null);

/// <summary>Where a tenant's <c>video.completed</c> / <c>video.failed</c> events go, and the secret they are signed with.</summary>
[GenerateSerializer, Immutable]
public sealed record TenantWebhook([property: Id(0)] string Url, [property: Id(1)] string Secret);

/// <summary>The created (or, for a repeated idempotency key, the original) video, or why none was created.</summary>
[GenerateSerializer, Immutable]
public sealed record CreateResult([property: Id(0)] SessionSnapshot? Video, [property: Id(1)] Refusal? Refusal, [property: Id(2)] bool Replayed = false);

/// <summary>A limit that refused a create: retry after <paramref name="RetryAfter"/>, or never (null: a conflict).</summary>
[GenerateSerializer, Immutable]
public sealed record Refusal([property: Id(0)] string Code, [property: Id(1)] string Message, [property: Id(2)] TimeSpan? RetryAfter);

/// <summary>What a finished session used: seconds of video made (0 unless completed) and model time spent.</summary>
[GenerateSerializer, Immutable]
public sealed record SessionUsage([property: Id(0)] bool Completed, [property: Id(1)] double Seconds, [property: Id(2)] double ModelSeconds);

/// <summary>A tenant's usage on one UTC day: videos completed, their seconds, model time, seconds requested.</summary>
[GenerateSerializer, Immutable]
public sealed record DailyUsage(
    [property: Id(0)] DateOnly Day,
    [property: Id(1)] int Videos,
    [property: Id(2)] double Seconds,
    [property: Id(3)] double ModelSeconds,
    [property: Id(4)] double RequestedSeconds);

[GenerateSerializer, Immutable]
public sealed record SweepReport([property: Id(0)] int ExpiredVideos, [property: Id(1)] int DeletedArtifacts);

[GenerateSerializer, Immutable]
public sealed record VideoPage([property: Id(0)] IReadOnlyList<SessionKey> Keys, [property: Id(1)] bool HasMore);
