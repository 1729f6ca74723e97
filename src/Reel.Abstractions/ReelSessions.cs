namespace Reel.Abstractions;

/// <summary>
/// How a client (the gateway, tests, tools) reaches sessions: by key, never by silo. A session waiting for admission
/// lives in its pool's queue; once admitted it is its own grain on a model silo.
/// </summary>
public sealed class ReelSessions(IGrainFactory grains)
{
    public Task<SessionSnapshot> CreateAsync(string tenant, string pool, VideoRequest request, string? weights = null) =>
        Pool(pool).Submit(tenant, request, weights);

    public async Task<SessionSnapshot?> GetAsync(SessionKey key) =>
        await Pool(key.Pool).Find(key.ToString()) ?? await Session(key).GetStatus();

    public async Task<WatchResult?> WatchAsync(SessionKey key, long afterSeq, TimeSpan wait) =>
        await Pool(key.Pool).Find(key.ToString()) is { } queued ? new WatchResult([], queued) : await Session(key).Watch(afterSeq, wait);

    public async Task<SessionSnapshot?> CancelAsync(SessionKey key) =>
        await Pool(key.Pool).CancelQueued(key.ToString()) ?? await Session(key).Cancel();

    private IPoolGrain Pool(string pool) => grains.GetGrain<IPoolGrain>(pool);

    private IGenerationSessionGrain Session(SessionKey key) => grains.GetGrain<IGenerationSessionGrain>(key.ToString());
}
