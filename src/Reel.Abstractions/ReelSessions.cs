namespace Reel.Abstractions;

/// <summary>
/// How a client (the gateway, tests, tools) reaches videos: creates go through the tenant's account and the pool;
/// everything else through the video's own grain and the tenant's list, never through a model silo or the pool.
/// With a <paramref name="readTimeout"/>, a read that has no answer by then throws <see cref="TimeoutException"/>:
/// while a silo that held the grain is being declared dead a call waits for Orleans' response timeout (30 s), and a
/// client that retries does better with a quick "not now" (the gateway's 503) than with a hang.
/// </summary>
public sealed class ReelSessions(IGrainFactory grains, TimeSpan? readTimeout = null)
{
    /// <summary>Queues a new video with no limits.</summary>
    public async Task<SessionSnapshot> CreateAsync(string tenant, string pool, VideoRequest request, string? weights = null) =>
        (await CreateAsync(tenant, new CreateVideo(pool, request, TenantLimits.None, 0, Weights: weights))).Video!;

    /// <summary>Queues a new video through the tenant's account, which checks its limits and idempotency key.</summary>
    public Task<CreateResult> CreateAsync(string tenant, CreateVideo command) => Account(tenant).Create(command);

    public Task<IReadOnlyList<DailyUsage>> UsageAsync(string tenant, int days) => Bounded(Account(tenant).Usage(days));

    /// <summary>The model a new video of <paramref name="pool"/> gets; null while the pool has no model silo.</summary>
    public Task<ServedModel?> ServedAsync(string pool) => Bounded(grains.GetGrain<IPoolGrain>(pool).Served());

    /// <summary>The tenant's videos, a page at a time.</summary>
    public Task<VideoPage> ListAsync(string tenant, string? after, int limit, bool ascending) =>
        Bounded(grains.GetGrain<ITenantVideosGrain>(tenant).Page(after, limit, ascending));

    /// <summary>The video a tenant's id names; null when the tenant has no such video.</summary>
    public Task<SessionSnapshot?> GetAsync(string tenant, string videoId) =>
        SessionKey.TryVideoGrainKey(tenant, videoId, out var key) ? Bounded(Video(key).Get()) : Task.FromResult<SessionSnapshot?>(null);

    public Task<SessionSnapshot?> GetAsync(SessionKey key) => Bounded(Video(key.VideoGrainKey).Get());

    /// <summary>The video's events after <paramref name="afterSeq"/>, waiting up to <paramref name="wait"/> for one.</summary>
    public Task<WatchResult?> WatchAsync(SessionKey key, long afterSeq, TimeSpan wait) => Bounded(Video(key.VideoGrainKey).Watch(afterSeq, wait), wait);

    public Task<SessionSnapshot?> CancelAsync(SessionKey key) => Video(key.VideoGrainKey).Cancel();

    /// <summary>Deletes a finished video (artifacts, record, listing).</summary>
    public async Task<DeleteOutcome> DeleteAsync(SessionKey key)
    {
        var outcome = await Video(key.VideoGrainKey).Delete();
        // The video's grain tells the list without waiting; the caller sees the list without it at once.
        if (outcome == DeleteOutcome.Deleted) await grains.GetGrain<ITenantVideosGrain>(key.Tenant).Remove(key.Session);
        return outcome;
    }

    private Task<T> Bounded<T>(Task<T> read, TimeSpan longest = default) => readTimeout is { } timeout ? read.WaitAsync(longest + timeout) : read;

    private ITenantAccountGrain Account(string tenant) => grains.GetGrain<ITenantAccountGrain>(tenant);

    private IVideoGrain Video(string grainKey) => grains.GetGrain<IVideoGrain>(grainKey);
}
