using Reel.Abstractions;

namespace Reel.Grains;

[GenerateSerializer]
public sealed class TenantVideosState
{
    /// <summary>The tenant's videos, oldest first.</summary>
    [Id(0)] public List<ListedVideo> Videos { get; set; } = [];
}

[GenerateSerializer, Immutable]
public sealed record ListedVideo([property: Id(0)] SessionKey Key, [property: Id(1)] DateTimeOffset CreatedAt);

/// <summary>The index a tenant's listing pages through; sessions themselves live in their own grains.</summary>
public sealed class TenantVideosGrain([PersistentState("videos", ReelStorage.Name)] IPersistentState<TenantVideosState> state)
    : Grain, ITenantVideosGrain
{
    public async Task Add(SessionKey key, DateTimeOffset createdAt)
    {
        if (state.State.Videos.Any(v => v.Key == key)) return;
        state.State.Videos.Add(new ListedVideo(key, createdAt));
        await state.WriteStateAsync();
    }

    public async Task Remove(SessionKey key)
    {
        if (state.State.Videos.RemoveAll(v => v.Key == key) > 0) await state.WriteStateAsync();
    }

    public Task<VideoPage> Page(string? after, int limit, bool ascending)
    {
        IEnumerable<ListedVideo> ordered = ascending ? state.State.Videos : Enumerable.Reverse(state.State.Videos);
        if (after is not null) ordered = ordered.SkipWhile(v => v.Key.VideoId != after).Skip(1);
        var page = ordered.Take(limit + 1).ToList();
        return Task.FromResult(new VideoPage([.. page.Take(limit).Select(v => v.Key)], page.Count > limit));
    }
}
