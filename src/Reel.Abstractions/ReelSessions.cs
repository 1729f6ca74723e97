namespace Reel.Abstractions;

/// <summary>
/// How a client (the gateway, tests, tools) reaches videos: creates go through the tenant's account and the pool;
/// everything else through the video's own grain and the tenant's list, never through a model silo or the pool.
/// </summary>
public sealed class ReelSessions(IGrainFactory grains)
{
    /// <summary>Queues a new video with no limits.</summary>
    public async Task<SessionSnapshot> CreateAsync(string tenant, string pool, VideoRequest request, string? weights = null) =>
        (await CreateAsync(tenant, new CreateVideo(pool, request, TenantLimits.None, 0, Weights: weights))).Video!;

    /// <summary>Queues a new video through the tenant's account, which checks its limits and idempotency key.</summary>
    public Task<CreateResult> CreateAsync(string tenant, CreateVideo command) => Account(tenant).Create(command);

    public Task<IReadOnlyList<DailyUsage>> UsageAsync(string tenant, int days) => Account(tenant).Usage(days);

    /// <summary>The model a new video of <paramref name="pool"/> gets; null while the pool has no model silo.</summary>
    public Task<ServedModel?> ServedAsync(string pool) => grains.GetGrain<IPoolGrain>(pool).Served();

    /// <summary>The tenant's videos, a page at a time.</summary>
    public Task<VideoPage> ListAsync(string tenant, string? after, int limit, bool ascending) =>
        grains.GetGrain<ITenantVideosGrain>(tenant).Page(after, limit, ascending);

    /// <summary>The video a tenant's id names; null when the tenant has no such video.</summary>
    public Task<SessionSnapshot?> GetAsync(string tenant, string videoId) =>
        SessionKey.TryVideoGrainKey(tenant, videoId, out var key) ? Video(key).Get() : Task.FromResult<SessionSnapshot?>(null);

    public Task<SessionSnapshot?> GetAsync(SessionKey key) => Video(key.VideoGrainKey).Get();

    public Task<WatchResult?> WatchAsync(SessionKey key, long afterSeq, TimeSpan wait) => Video(key.VideoGrainKey).Watch(afterSeq, wait);

    public Task<SessionSnapshot?> CancelAsync(SessionKey key) => Video(key.VideoGrainKey).Cancel();

    /// <summary>Deletes a finished video (artifacts, record, listing).</summary>
    public async Task<DeleteOutcome> DeleteAsync(SessionKey key)
    {
        var outcome = await Video(key.VideoGrainKey).Delete();
        // The video's grain tells the list without waiting; the caller sees the list without it at once.
        if (outcome == DeleteOutcome.Deleted) await grains.GetGrain<ITenantVideosGrain>(key.Tenant).Remove(key.Session);
        return outcome;
    }

    private ITenantAccountGrain Account(string tenant) => grains.GetGrain<ITenantAccountGrain>(tenant);

    private IVideoGrain Video(string grainKey) => grains.GetGrain<IVideoGrain>(grainKey);
}
