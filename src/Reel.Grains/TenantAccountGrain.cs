using System.Globalization;
using Reel.Abstractions;
using Reel.Storage;

namespace Reel.Grains;

[GenerateSerializer]
public sealed class TenantAccountState
{
    /// <summary>Videos queued or running (session key → seconds charged): what the concurrency limit counts.</summary>
    [Id(1)] public Dictionary<string, double> Active { get; set; } = [];

    /// <summary>Usage per UTC day (<c>yyyy-MM-dd</c>), the last <see cref="TenantAccountGrain.UsageDays"/> days.</summary>
    [Id(2)] public Dictionary<string, DayCounters> Days { get; set; } = [];

    /// <summary>Idempotency keys seen in the last 24 h.</summary>
    [Id(3)] public Dictionary<string, IdempotencyRecord> Idempotency { get; set; } = [];

    /// <summary>The tenant's webhook as its newest create named it (null: none).</summary>
    [Id(5)] public TenantWebhook? Webhook { get; set; }

    /// <summary>Videos whose end was counted (usage, webhook event) in the last 24 h: a late second notice counts nothing.</summary>
    [Id(7)] public Dictionary<string, DateTimeOffset> Counted { get; set; } = [];
}

[GenerateSerializer]
public sealed class DayCounters
{
    [Id(0)] public int Videos { get; set; }
    [Id(1)] public double Seconds { get; set; }
    [Id(2)] public double ModelSeconds { get; set; }
    [Id(3)] public double RequestedSeconds { get; set; }
}

[GenerateSerializer, Immutable]
public sealed record IdempotencyRecord([property: Id(0)] string Fingerprint, [property: Id(1)] SessionKey Key, [property: Id(2)] DateTimeOffset ExpiresAt);

/// <summary>
/// A tenant's account: the limits' counters (exact: the tenant's creates are serialised here, whichever gateway replica
/// sends them), usage per day and idempotency keys. Bounded: usage days older than <see cref="UsageDays"/>, idempotency
/// keys older than 24 h and counted ends older than 24 h are pruned on every create and end.
/// </summary>
public sealed class TenantAccountGrain(
    [PersistentState("account", ReelStorage.Name)] IPersistentState<TenantAccountState> state,
    IArtifactStore artifacts) : Grain, ITenantAccountGrain
{
    /// <summary>Days of usage kept (and answered by <c>GET /v1/usage</c>).</summary>
    public const int UsageDays = 400;

    private static readonly TimeSpan IdempotencyWindow = TimeSpan.FromHours(24);
    private static readonly TimeSpan CountedWindow = TimeSpan.FromHours(24);
    private static readonly TimeSpan ActiveRetryAfter = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StorageRetryAfter = TimeSpan.FromHours(1);

    private string Tenant => this.GetPrimaryKeyString();
    private TenantAccountState S => state.State;

    public async Task<CreateResult> Create(CreateVideo command)
    {
        var now = DateTimeOffset.UtcNow;
        Prune(now);
        if (command.IdempotencyKey is { } idempotencyKey && S.Idempotency.TryGetValue(idempotencyKey, out var record))
        {
            if (record.Fingerprint != command.Fingerprint)
                return Refused("idempotency_key_reused", "This Idempotency-Key was used with a different request in the last 24 hours.", null);
            return await Video(record.Key).Get() is { } original
                ? new CreateResult(original, null, Replayed: true)
                : Refused("idempotency_key_reused", "This Idempotency-Key's video was deleted; use a new key.", null);
        }
        var limits = command.Limits;
        if (limits.MaxActiveVideos is { } maxActive && S.Active.Count >= maxActive && await ReconcileActiveAsync() >= maxActive)
            return Refused("too_many_active_videos", $"At most {maxActive} videos may be queued or running at once.", ActiveRetryAfter);
        var today = Day(now);
        if (limits.SecondsPerDay is { } perDay && today.RequestedSeconds + command.ChargedSeconds > perDay)
            return Refused("daily_seconds_exceeded", $"At most {perDay} seconds of video per day; {today.RequestedSeconds} used today (UTC).",
                now.UtcDateTime.Date.AddDays(1) - now.UtcDateTime);
        if (limits.StorageBytes is { } quota && await artifacts.SizeAsync(ArtifactName.Of(Tenant)) >= quota)
            return Refused("storage_quota_exceeded", $"The tenant's stored videos use its {quota} bytes: delete some, or wait for them to expire.", StorageRetryAfter);

        var created = await GrainFactory.GetGrain<IPoolGrain>(command.Pool).Submit(Tenant, command.Request, command.Weights, limits.Weight);
        S.Webhook = command.Webhook;
        if (!created.IsFinished) S.Active[created.Key.ToString()] = command.ChargedSeconds;
        today.RequestedSeconds += command.ChargedSeconds;
        if (command.IdempotencyKey is { } key) S.Idempotency[key] = new IdempotencyRecord(command.Fingerprint ?? "", created.Key, now + IdempotencyWindow);
        await state.WriteStateAsync();
        return new CreateResult(created, null);
    }

    public async Task Finished(SessionKey key, SessionUsage usage)
    {
        if (await CountAsync(key, usage)) await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<DailyUsage>> Usage(int days)
    {
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        IReadOnlyList<DailyUsage> usage = [.. Enumerable.Range(0, Math.Clamp(days, 1, UsageDays)).Select(i => today.AddDays(-i)).Select(day =>
            S.Days.TryGetValue(DayName(day), out var c)
                ? new DailyUsage(day, c.Videos, c.Seconds, c.ModelSeconds, c.RequestedSeconds)
                : new DailyUsage(day, 0, 0, 0, 0))];
        return Task.FromResult(usage);
    }

    public Task Reconcile() => ReconcileActiveAsync();

    /// <summary>Asks each active video where it stands and counts those that ended without telling (a silo died at the end).</summary>
    private async Task<int> ReconcileActiveAsync()
    {
        var changed = false;
        foreach (var key in S.Active.Keys.ToList())
        {
            var sessionKey = SessionKey.Parse(key);
            SessionSnapshot? snapshot;
            try
            {
                snapshot = await Video(sessionKey).Get();
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                continue;
            }
            if (snapshot is not null && !snapshot.IsFinished) continue;
            var completed = snapshot?.Status == SessionStatus.Completed;
            changed |= await CountAsync(sessionKey, new SessionUsage(completed, completed ? snapshot!.Seconds ?? 0 : 0, 0));
        }
        if (changed) await state.WriteStateAsync();
        return S.Active.Count;
    }

    /// <summary>
    /// Frees the video's slot, adds its usage to today's counters and queues its webhook event, once per video; true
    /// when something changed.
    /// </summary>
    private async Task<bool> CountAsync(SessionKey key, SessionUsage usage)
    {
        var now = DateTimeOffset.UtcNow;
        Prune(now);
        var freed = S.Active.Remove(key.ToString());
        if (!S.Counted.TryAdd(key.ToString(), now)) return freed;
        if (S.Webhook is { } webhook)
            await GrainFactory.GetGrain<IWebhookOutboxGrain>(Tenant).Enqueue(webhook, usage.Completed ? "video.completed" : "video.failed", key.VideoId, now);
        var today = Day(now);
        if (usage.Completed) today.Videos++;
        today.Seconds += usage.Seconds;
        today.ModelSeconds += usage.ModelSeconds;
        return true;
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var expired in S.Idempotency.Where(r => r.Value.ExpiresAt <= now).Select(r => r.Key).ToList()) S.Idempotency.Remove(expired);
        foreach (var old in S.Counted.Where(c => now - c.Value > CountedWindow && !S.Active.ContainsKey(c.Key)).Select(c => c.Key).ToList()) S.Counted.Remove(old);
        var oldest = DayName(DateOnly.FromDateTime(now.UtcDateTime).AddDays(-UsageDays));
        foreach (var day in S.Days.Keys.Where(d => string.CompareOrdinal(d, oldest) <= 0).ToList()) S.Days.Remove(day);
    }

    private IVideoGrain Video(SessionKey key) => GrainFactory.GetGrain<IVideoGrain>(key.VideoGrainKey);

    private DayCounters Day(DateTimeOffset at)
    {
        var name = DayName(DateOnly.FromDateTime(at.UtcDateTime));
        if (!S.Days.TryGetValue(name, out var counters)) S.Days[name] = counters = new DayCounters();
        return counters;
    }

    private static string DayName(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static CreateResult Refused(string code, string message, TimeSpan? retryAfter) => new(null, new Refusal(code, message, retryAfter));
}
