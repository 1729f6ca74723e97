using System.Globalization;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;
using Reel.Storage;

namespace Reel.Grains;

[GenerateSerializer]
public sealed class TenantAccountState
{
    /// <summary>The tenant's videos, oldest first.</summary>
    [Id(0)] public List<ListedVideo> Videos { get; set; } = [];

    /// <summary>Videos queued or running (session key → seconds charged): what the concurrency limit counts.</summary>
    [Id(1)] public Dictionary<string, double> Active { get; set; } = [];

    /// <summary>Usage per UTC day (<c>yyyy-MM-dd</c>).</summary>
    [Id(2)] public Dictionary<string, DayCounters> Days { get; set; } = [];

    /// <summary>Idempotency keys seen in the last 24 h.</summary>
    [Id(3)] public Dictionary<string, IdempotencyRecord> Idempotency { get; set; } = [];

    [Id(4)] public bool SweepScheduled { get; set; }

    /// <summary>The tenant's webhook as its newest create named it (null: none).</summary>
    [Id(5)] public TenantWebhook? Webhook { get; set; }

    /// <summary>Webhook events not yet answered with a 2xx.</summary>
    [Id(6)] public List<WebhookDelivery> Outbox { get; set; } = [];
}

/// <summary>One event for the tenant's webhook: its body, where it goes, and when to try next.</summary>
[GenerateSerializer]
public sealed class WebhookDelivery
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public required string Body { get; init; }
    [Id(2)] public required TenantWebhook Webhook { get; init; }
    [Id(3)] public required DateTimeOffset CreatedAt { get; init; }
    [Id(4)] public int Attempts { get; set; }
    [Id(5)] public DateTimeOffset NextAttempt { get; set; }
}

/// <summary>A listed video; <paramref name="Counted"/> once its usage is in the day's counters.</summary>
[GenerateSerializer, Immutable]
public sealed record ListedVideo([property: Id(0)] SessionKey Key, [property: Id(1)] DateTimeOffset CreatedAt, [property: Id(2)] bool Counted = false);

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

/// <summary>How tenants' storage is swept (docs/contracts.md, "Retention").</summary>
public sealed class RetentionOptions
{
    /// <summary>How often each tenant's account deletes expired videos and orphaned artifacts. Default 10 min.</summary>
    public TimeSpan SweepPeriod { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>An upload no unfinished session names is deleted once it is this old (a create may still be on its way). Default 1 h.</summary>
    public TimeSpan UploadGrace { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// A tenant's account: the listing, the limits' counters (exact: the tenant's creates are serialised here, whichever
/// gateway replica sends them), usage per day, idempotency keys, and the retention sweep of the tenant's artifacts.
/// </summary>
public sealed partial class TenantAccountGrain(
    [PersistentState("account", ReelStorage.Name)] IPersistentState<TenantAccountState> state,
    IArtifactStore artifacts,
    RetentionOptions retention,
    WebhookSender webhooks,
    WebhookOptions webhookOptions,
    ILogger<TenantAccountGrain> logger) : Grain, ITenantAccountGrain, IRemindable
{
    private const string SweepReminder = "sweep";
    private static readonly TimeSpan IdempotencyWindow = TimeSpan.FromHours(24);
    private static readonly TimeSpan ActiveRetryAfter = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StorageRetryAfter = TimeSpan.FromHours(1);

    private static readonly TimeSpan DeliveryTick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);

    private IGrainTimer? _sweeper;
    private IGrainTimer? _deliverer;

    private string Tenant => this.GetPrimaryKeyString();
    private TenantAccountState S => state.State;
    private ReelSessions Sessions => new(GrainFactory);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Videos.Count > 0) StartSweeper();
        if (S.Outbox.Count > 0) StartDeliverer();
        return Task.CompletedTask;
    }

    public async Task<CreateResult> Create(CreateVideo command)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var expired in S.Idempotency.Where(r => r.Value.ExpiresAt <= now).Select(r => r.Key).ToList()) S.Idempotency.Remove(expired);
        if (command.IdempotencyKey is { } idempotencyKey && S.Idempotency.TryGetValue(idempotencyKey, out var record))
        {
            if (record.Fingerprint != command.Fingerprint)
                return Refused("idempotency_key_reused", "This Idempotency-Key was used with a different request in the last 24 hours.", null);
            return await Sessions.GetAsync(record.Key) is { } original
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
        S.Videos.Add(new ListedVideo(created.Key, created.CreatedAt));
        S.Webhook = command.Webhook;
        S.Active[created.Key.ToString()] = command.ChargedSeconds;
        today.RequestedSeconds += command.ChargedSeconds;
        if (command.IdempotencyKey is { } key) S.Idempotency[key] = new IdempotencyRecord(command.Fingerprint ?? "", created.Key, now + IdempotencyWindow);
        if (!S.SweepScheduled)
        {
            // The reminder outlives this activation and this silo; the timer sweeps at the configured (possibly shorter) period.
            var period = retention.SweepPeriod < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : retention.SweepPeriod;
            await this.RegisterOrUpdateReminder(SweepReminder, period, period);
            S.SweepScheduled = true;
        }
        await state.WriteStateAsync();
        StartSweeper();
        return new CreateResult(created, null);
    }

    public async Task Finished(SessionKey key, SessionUsage usage)
    {
        if (Count(key, usage)) await state.WriteStateAsync();
    }

    /// <summary>
    /// Sends the events that are due, oldest first; a failed one is tried again after 1, 2, 4 … s (at most 5 min apart)
    /// until it is older than the configured maximum age. At least once: an event leaves the outbox only after a 2xx.
    /// </summary>
    private async Task DeliverAsync()
    {
        var now = DateTimeOffset.UtcNow;
        var changed = false;
        foreach (var delivery in S.Outbox.Where(d => d.NextAttempt <= now).ToList())
        {
            if (await webhooks.SendAsync(delivery.Webhook.Url, delivery.Webhook.Secret, delivery.Id, delivery.Body))
            {
                S.Outbox.Remove(delivery);
            }
            else if (now - delivery.CreatedAt > webhookOptions.MaxAge)
            {
                S.Outbox.Remove(delivery);
                LogWebhookDropped(Tenant, delivery.Id, delivery.Attempts + 1);
            }
            else
            {
                delivery.Attempts++;
                var backoff = TimeSpan.FromSeconds(Math.Pow(2, delivery.Attempts - 1));
                delivery.NextAttempt = DateTimeOffset.UtcNow + (backoff < MaxBackoff ? backoff : MaxBackoff);
            }
            changed = true;
        }
        if (changed) await state.WriteStateAsync();
        if (S.Outbox.Count == 0)
        {
            _deliverer?.Dispose();
            _deliverer = null;
        }
    }

    private void StartDeliverer() => _deliverer ??= this.RegisterGrainTimer(DeliverAsync,
        new GrainTimerCreationOptions(TimeSpan.Zero, DeliveryTick) { KeepAlive = true, Interleave = false });

    public async Task Remove(SessionKey key)
    {
        var removed = S.Videos.RemoveAll(v => v.Key == key) > 0;
        if (S.Active.Remove(key.ToString()) || removed) await state.WriteStateAsync();
    }

    public Task<VideoPage> Page(string? after, int limit, bool ascending)
    {
        IEnumerable<ListedVideo> ordered = ascending ? S.Videos : Enumerable.Reverse(S.Videos);
        if (after is not null) ordered = ordered.SkipWhile(v => v.Key.VideoId != after).Skip(1);
        var page = ordered.Take(limit + 1).ToList();
        return Task.FromResult(new VideoPage([.. page.Take(limit).Select(v => v.Key)], page.Count > limit));
    }

    public Task<IReadOnlyList<DailyUsage>> Usage(int days)
    {
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        IReadOnlyList<DailyUsage> usage = [.. Enumerable.Range(0, Math.Max(1, days)).Select(i => today.AddDays(-i)).Select(day =>
            S.Days.TryGetValue(DayName(day), out var c)
                ? new DailyUsage(day, c.Videos, c.Seconds, c.ModelSeconds, c.RequestedSeconds)
                : new DailyUsage(day, 0, 0, 0, 0))];
        return Task.FromResult(usage);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status) => await Sweep();

    /// <summary>
    /// Expired videos go (artifacts, state, listing); so do artifacts no video owns any more: folders of sessions that
    /// are not listed, chunk copies and loop heads of ended sessions, and uploads no unfinished session names once they
    /// are older than the upload grace. A session that is queued, running or cannot be asked is never touched.
    /// </summary>
    public async Task<SweepReport> Sweep()
    {
        // Sessions that ended without telling (a silo died at the very end) are counted, and their events sent, here.
        await ReconcileActiveAsync();
        var now = DateTimeOffset.UtcNow;
        var (expired, deleted) = (0, 0);
        var (live, ended) = (new HashSet<string>(), new HashSet<string>());
        var inputs = new HashSet<string>();
        foreach (var video in S.Videos.ToList())
        {
            SessionSnapshot? snapshot;
            try
            {
                snapshot = await Sessions.GetAsync(video.Key);
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                live.Add(video.Key.Session);
                continue;
            }
            if (snapshot is null) continue;
            if (!snapshot.IsFinished)
            {
                live.Add(video.Key.Session);
                foreach (var input in snapshot.Request.Inputs) if (input.Upload is { } upload) inputs.Add(upload);
            }
            else if (snapshot.ExpiresAt <= now && await GrainFactory.GetGrain<IGenerationSessionGrain>(video.Key.ToString()).Delete())
            {
                S.Videos.Remove(video);
                S.Active.Remove(video.Key.ToString());
                expired++;
            }
            else
            {
                ended.Add(video.Key.Session);
            }
        }
        foreach (var name in await artifacts.ListAsync(ArtifactName.Of(Tenant, "sessions")))
        {
            var parts = name.Value.Split('/');
            var session = parts[2];
            if (live.Contains(session)) continue;
            // An ended session keeps its outputs; one that is not listed (deleted, never created) keeps nothing.
            if (ended.Contains(session) && parts[3] is not ("chunks" or "loop-head.safetensors")) continue;
            await artifacts.DeleteAsync(name);
            deleted++;
        }
        foreach (var name in await artifacts.ListAsync(ArtifactName.Of(Tenant, "uploads")))
        {
            if (inputs.Contains(name.Value) || SessionArtifacts.UploadedAt(name) is not { } at || now - at < retention.UploadGrace) continue;
            await artifacts.DeleteAsync(name);
            deleted++;
        }
        if (expired > 0) await state.WriteStateAsync();
        if (expired + deleted > 0) LogSwept(Tenant, expired, deleted);
        return new SweepReport(expired, deleted);
    }

    private void StartSweeper() => _sweeper ??= this.RegisterGrainTimer(async () => await Sweep(),
        new GrainTimerCreationOptions(retention.SweepPeriod, retention.SweepPeriod) { KeepAlive = false, Interleave = false });

    /// <summary>Asks each active video where it stands and forgets those that ended without telling (a silo died at the end).</summary>
    private async Task<int> ReconcileActiveAsync()
    {
        var changed = false;
        foreach (var key in S.Active.Keys.ToList())
        {
            var sessionKey = SessionKey.Parse(key);
            SessionSnapshot? snapshot;
            try
            {
                snapshot = await Sessions.GetAsync(sessionKey);
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                continue;
            }
            if (snapshot is not null && !snapshot.IsFinished) continue;
            var completed = snapshot?.Status == SessionStatus.Completed;
            changed |= Count(sessionKey, new SessionUsage(completed, completed ? snapshot!.Seconds ?? 0 : 0, 0));
            changed |= S.Active.Remove(key);
        }
        if (changed) await state.WriteStateAsync();
        return S.Active.Count;
    }

    /// <summary>Frees the video's slot and adds its usage to today's counters, once per video; true when something changed.</summary>
    private bool Count(SessionKey key, SessionUsage usage)
    {
        var freed = S.Active.Remove(key.ToString());
        var index = S.Videos.FindIndex(v => v.Key == key);
        if (index < 0 || S.Videos[index].Counted) return freed;
        S.Videos[index] = S.Videos[index] with { Counted = true };
        if (S.Webhook is { } webhook)
        {
            var now = DateTimeOffset.UtcNow;
            var id = $"msg_{Guid.NewGuid():N}";
            var body = System.Text.Json.JsonSerializer.Serialize(new
            {
                id, @object = "event", type = usage.Completed ? "video.completed" : "video.failed",
                created_at = now.ToUnixTimeSeconds(), data = new { id = key.VideoId },
            });
            S.Outbox.Add(new WebhookDelivery { Id = id, Body = body, Webhook = webhook, CreatedAt = now, NextAttempt = now });
            StartDeliverer();
        }
        var today = Day(DateTimeOffset.UtcNow);
        if (usage.Completed) today.Videos++;
        today.Seconds += usage.Seconds;
        today.ModelSeconds += usage.ModelSeconds;
        return true;
    }

    private DayCounters Day(DateTimeOffset at)
    {
        var name = DayName(DateOnly.FromDateTime(at.UtcDateTime));
        if (!S.Days.TryGetValue(name, out var counters)) S.Days[name] = counters = new DayCounters();
        return counters;
    }

    private static string DayName(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static CreateResult Refused(string code, string message, TimeSpan? retryAfter) => new(null, new Refusal(code, message, retryAfter));

    [LoggerMessage(LogLevel.Warning, "Tenant {Tenant}: webhook event {Event} dropped after {Attempts} failed attempts")]
    private partial void LogWebhookDropped(string tenant, string @event, int attempts);

    [LoggerMessage(LogLevel.Information, "Tenant {Tenant}: swept {Expired} expired video(s) and {Deleted} orphaned artifact(s)")]
    private partial void LogSwept(string tenant, int expired, int deleted);
}
