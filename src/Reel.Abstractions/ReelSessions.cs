namespace Reel.Abstractions;

/// <summary>
/// How a client (the gateway, tests, tools) reaches sessions: by key, never by silo. A session waiting for admission
/// lives in its pool's queue; once admitted it is its own grain on a model silo.
/// </summary>
public sealed class ReelSessions(IGrainFactory grains)
{
    /// <summary>Queues a new session with no limits and lists it among the tenant's videos.</summary>
    public async Task<SessionSnapshot> CreateAsync(string tenant, string pool, VideoRequest request, string? weights = null) =>
        (await CreateAsync(tenant, new CreateVideo(pool, request, TenantLimits.None, 0, Weights: weights))).Video!;

    /// <summary>Queues a new session through the tenant's account, which checks its limits and idempotency key.</summary>
    public Task<CreateResult> CreateAsync(string tenant, CreateVideo command) => Account(tenant).Create(command);

    public Task<IReadOnlyList<DailyUsage>> UsageAsync(string tenant, int days) => Account(tenant).Usage(days);

    /// <summary>The model a new session of <paramref name="pool"/> gets; null while the pool has no model silo.</summary>
    public Task<ServedModel?> ServedAsync(string pool) => Pool(pool).Served();

    /// <summary>The tenant's videos, a page at a time.</summary>
    public Task<VideoPage> ListAsync(string tenant, string? after, int limit, bool ascending) =>
        Account(tenant).Page(after, limit, ascending);

    /// <summary>Deletes a finished session (artifacts, state, listing); false while it is queued or running.</summary>
    public async Task<bool> DeleteAsync(SessionKey key)
    {
        if (await Pool(key.Pool).Find(key.ToString()) is { Status: SessionStatus.Queued }) return false;
        if (!await Session(key).Delete()) return false;
        await Account(key.Tenant).Remove(key);
        return true;
    }

    public async Task<SessionSnapshot?> GetAsync(SessionKey key) =>
        await Pool(key.Pool).Find(key.ToString()) ?? await Session(key).GetStatus();

    public async Task<WatchResult?> WatchAsync(SessionKey key, long afterSeq, TimeSpan wait) =>
        await Pool(key.Pool).Find(key.ToString()) is { } queued ? new WatchResult([], queued) : await Session(key).Watch(afterSeq, wait);

    public async Task<SessionSnapshot?> CancelAsync(SessionKey key) =>
        await Pool(key.Pool).CancelQueued(key.ToString()) ?? await Session(key).Cancel();

    private ITenantAccountGrain Account(string tenant) => grains.GetGrain<ITenantAccountGrain>(tenant);

    private IPoolGrain Pool(string pool) => grains.GetGrain<IPoolGrain>(pool);

    private IGenerationSessionGrain Session(SessionKey key) => grains.GetGrain<IGenerationSessionGrain>(key.ToString());
}
