using Orleans.Concurrency;

namespace Reel.Abstractions;

/// <summary>
/// The durable record of one video (key: <c>tenant/session</c>, see <see cref="SessionKey.VideoGrainKey"/>), placed on
/// any silo: its lifecycle, request, progress and event feed, caption, size, seconds, seed, chunk history, expiry.
/// Reads, lists, content, events and deletes need only this grain and the artifact store, never a model silo or the
/// pool, so videos of retired weights stay fully usable. The session that makes the video reports to it.
/// </summary>
public interface IVideoGrain : IGrainWithStringKey
{
    /// <summary>
    /// Records a new video, queued in its pool (the pool calls this before queuing it), with the size and length
    /// <paramref name="model"/> (what the pool's silos of the key's weights serve; null while none has reported) will
    /// give it. Idempotent.
    /// </summary>
    Task<SessionSnapshot> Create(SessionKey key, VideoRequest request, DateTimeOffset createdAt, ServedModel? model);

    /// <summary>
    /// The session's news: its state after <paramref name="message"/>. A <paramref name="durable"/> report (start, plan,
    /// commit, end) is stored before the call returns; step progress lives in memory. False when the video was cancelled
    /// or deleted meanwhile: the session stops.
    /// </summary>
    Task<bool> Report(SessionSnapshot snapshot, string message, bool durable);

    /// <summary>The video's place in its pool's admission queue changed (the pool tells it without waiting, except when it answers a create).</summary>
    Task Queued(int position);

    /// <summary>The video, or null when there is none.</summary>
    [AlwaysInterleave]
    Task<SessionSnapshot?> Get();

    /// <summary>Progress events after <paramref name="afterSeq"/>; waits up to <paramref name="wait"/> for one. Null when there is no video.</summary>
    [AlwaysInterleave]
    Task<WatchResult?> Watch(long afterSeq, TimeSpan wait);

    /// <summary>Stops a queued or running video (a finished one stays as it is); null when there is no video.</summary>
    Task<SessionSnapshot?> Cancel();

    /// <summary>Deletes a finished video: its artifacts, its record and its listing.</summary>
    Task<DeleteOutcome> Delete();
}

public enum DeleteOutcome { NotFound, Unfinished, Deleted }

/// <summary>
/// The worker that makes one video (key: <see cref="SessionKey"/>), active only on a model silo of its pool holding its
/// weights: it runs the chunk loop and reports to the video's grain. Where it runs — admission, resume after a silo
/// dies, moves, drains — its pool decides (<see cref="IPoolGrain"/>).
/// </summary>
public interface IGenerationSessionGrain : IGrainWithStringKey
{
    /// <summary>
    /// Called by the pool's admission queue: takes one of this silo's slots and starts the session. Null when the
    /// silo has no free slot (the queue tries again). Starting a session that already exists changes nothing.
    /// <paramref name="share"/> is its tenant's share of the pool, which also weighs its denoising steps on the silo.
    /// </summary>
    Task<SessionSnapshot?> Start(VideoRequest request, DateTimeOffset createdAt, double share = 1);

    /// <summary>
    /// Idempotent: an unfinished session that runs nowhere continues here from its last committed chunk. Null when this
    /// silo has no free slot; the session as it stands otherwise (already running, or finished — a finished session
    /// forgets its work, so that is any session without a record).
    /// </summary>
    Task<SessionSnapshot?> Resume();

    /// <summary>
    /// Stops the session within one denoising step; a finished session stays as it is. One-way: the video's grain
    /// records the cancellation itself and never waits on a model silo.
    /// </summary>
    [AlwaysInterleave, OneWay]
    Task Cancel();
}

/// <summary>
/// A pool's admission queue (key: the pool name), durable, and the one place that decides where its sessions run:
/// it starts waiting sessions on model silos with free slots, resumes those of silos that left or drain, and names the
/// silo a session moves to. Model silos report their load to it.
/// </summary>
public interface IPoolGrain : IGrainWithStringKey
{
    /// <summary>
    /// Records and queues a new video of <paramref name="tenant"/>; <paramref name="weights"/> pins a weights version,
    /// null takes the pool's newest; <paramref name="share"/> is the tenant's weight in the pool's weighted round-robin.
    /// Returns the video (queued, or already started when a slot was free).
    /// </summary>
    Task<SessionSnapshot> Submit(string tenant, VideoRequest request, string? weights = null, double share = 1);

    /// <summary>Takes a session still waiting out of the queue; false when it is not waiting here.</summary>
    Task<bool> CancelQueued(string sessionKey);

    /// <summary>
    /// A model silo's current load. Every report also reconciles: sessions whose silo is no longer in the cluster, or
    /// drains and let them go, are resumed on live ones, then waiting sessions are admitted where there is room.
    /// </summary>
    Task Report(SiloLoad load);

    /// <summary>Index of unfinished sessions: <paramref name="sessionKey"/> now runs on <paramref name="silo"/>.</summary>
    Task Running(string sessionKey, SiloAddress silo);

    /// <summary>Index of unfinished sessions: the session finished (completed, failed or cancelled).</summary>
    Task Finished(string sessionKey);

    /// <summary>
    /// Where a session on <paramref name="from"/> continues after a commit: another silo with its weights and a free
    /// slot when <paramref name="from"/> drains or the migration policy asks for a move, else null (stay; a draining
    /// silo's session then stops and this pool resumes it where there is room). <paramref name="draining"/> is the
    /// silo's own word, which the pool's view (from the silo's last load report) may not have caught up with yet.
    /// </summary>
    [AlwaysInterleave]
    Task<SiloAddress?> NextSilo(string sessionKey, SiloAddress from, MigrationPolicy policy, bool draining);

    /// <summary>The model the pool's newest weights serve (what a new session gets), or null while no silo reports.</summary>
    [AlwaysInterleave]
    Task<ServedModel?> Served();

    /// <summary>The live model silos of this pool and their loads. Interleaves: placement asks while an admission is in flight.</summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<SiloLoad>> Loads();
}

/// <summary>When a session moves to another silo of its pool after a chunk commits.</summary>
public enum MigrationPolicy
{
    /// <summary>Never (but when its silo drains).</summary>
    Stay,

    /// <summary>When another silo with its weights runs at least two fewer sessions.</summary>
    Balance,

    /// <summary>After every chunk, to the least loaded other silo with its weights and a free slot (tests: it exercises hand-over).</summary>
    Always,
}

/// <summary>
/// A tenant's account (key: the tenant), durable: the counters its limits are checked against (shared by every gateway
/// replica), its usage per day and its idempotency keys. Creates of one tenant are serialised here.
/// </summary>
public interface ITenantAccountGrain : IGrainWithStringKey
{
    /// <summary>Creates a video unless a limit refuses it; an idempotency key seen before replays or conflicts.</summary>
    Task<CreateResult> Create(CreateVideo command);

    /// <summary>
    /// A video ended (completed, failed or cancelled): its slot frees, its usage is counted and its webhook event
    /// queued, once. One-way: a video never waits on its tenant's account.
    /// </summary>
    [OneWay]
    Task Finished(SessionKey key, SessionUsage usage);

    /// <summary>
    /// Asks each active video where it stands and counts those that ended without telling (their one-way
    /// <see cref="Finished"/> was lost with a process), queuing their webhook events; a gateway calls it at start.
    /// </summary>
    Task Reconcile();

    /// <summary>Usage of the last <paramref name="days"/> UTC days (today included), newest first.</summary>
    [ReadOnly]
    Task<IReadOnlyList<DailyUsage>> Usage(int days);
}

/// <summary>
/// A tenant's videos as a list it can page in one call (key: the tenant), kept by the videos' grains, and the sweep of
/// the tenant's storage: expired videos, artifacts no video owns, stale uploads.
/// </summary>
public interface ITenantVideosGrain : IGrainWithStringKey
{
    /// <summary>Adds a new video (its grain awaits this when it records the video).</summary>
    Task Add(SessionSnapshot video);

    /// <summary>
    /// Replaces what the list holds of a video with a newer snapshot. Video grains send this and <see cref="Remove"/>
    /// without waiting: the list never makes a video wait, and its sweep can ask videos to delete themselves without a
    /// cycle of waiting calls.
    /// </summary>
    Task Update(SessionSnapshot video);

    Task Remove(string session);

    /// <summary>Up to <paramref name="limit"/> videos after the one with id <paramref name="after"/>, newest first unless ascending.</summary>
    [ReadOnly]
    Task<VideoPage> Page(string? after, int limit, bool ascending);

    /// <summary>Deletes expired videos and orphaned artifacts now (it also does every sweep period).</summary>
    Task<SweepReport> Sweep();
}

/// <summary>
/// A tenant's webhook events not yet answered with a 2xx (key: the tenant), durable, delivered on this grain's own
/// time so that a slow or dead receiver never holds back anything else; a reminder resumes delivery after a restart.
/// </summary>
public interface IWebhookOutboxGrain : IGrainWithStringKey
{
    /// <summary>Queues an event for <paramref name="webhook"/> (stored before the call returns).</summary>
    Task Enqueue(TenantWebhook webhook, string type, string videoId, DateTimeOffset at);

    /// <summary>Resumes delivering what is pending (a gateway calls it at start: reminders may not have outlived a restart).</summary>
    Task Wake();
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
public sealed record VideoPage([property: Id(0)] IReadOnlyList<SessionSnapshot> Videos, [property: Id(1)] bool HasMore);
