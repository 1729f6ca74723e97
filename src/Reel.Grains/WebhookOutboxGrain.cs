using System.Text.Json;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;

namespace Reel.Grains;

[GenerateSerializer]
public sealed class WebhookOutboxState
{
    /// <summary>Events not yet answered with a 2xx, oldest first.</summary>
    [Id(0)] public List<WebhookDelivery> Pending { get; set; } = [];
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

/// <summary>
/// A tenant's webhook outbox (see <see cref="IWebhookOutboxGrain"/>). At least once: an event leaves only after a
/// 2xx; a failed one is tried again after 1, 2, 4 … s (at most 5 min apart) until it is older than the configured
/// maximum age. The delivery timer interleaves with <see cref="Enqueue"/>, so queuing an event never waits on a slow
/// receiver; one lock keeps their state writes apart. Bounded: at most <see cref="MaxPending"/> events wait, the oldest
/// dropped first (logged).
/// </summary>
public sealed partial class WebhookOutboxGrain(
    [PersistentState("outbox", ReelStorage.Name)] IPersistentState<WebhookOutboxState> state,
    WebhookSender webhooks,
    WebhookOptions options,
    ILogger<WebhookOutboxGrain> logger) : Grain, IWebhookOutboxGrain, IRemindable
{
    public const int MaxPending = 10_000;
    private const string DeliveryReminder = "deliver";
    private static readonly TimeSpan DeliveryTick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);

    private readonly SemaphoreSlim _write = new(1, 1);
    private IGrainTimer? _deliverer;
    private bool _delivering;

    private string Tenant => this.GetPrimaryKeyString();
    private List<WebhookDelivery> Pending => state.State.Pending;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Pending.Count > 0) StartDeliverer();
        return Task.CompletedTask;
    }

    public async Task Enqueue(TenantWebhook webhook, string type, string videoId, DateTimeOffset at)
    {
        var id = $"msg_{Guid.NewGuid():N}";
        var body = JsonSerializer.Serialize(new { id, @object = "event", type, created_at = at.ToUnixTimeSeconds(), data = new { id = videoId } });
        await MutateAsync(() =>
        {
            Pending.Add(new WebhookDelivery { Id = id, Body = body, Webhook = webhook, CreatedAt = at, NextAttempt = at });
            while (Pending.Count > MaxPending)
            {
                LogDropped(Tenant, Pending[0].Id, Pending[0].Attempts);
                Pending.RemoveAt(0);
            }
        });
        await WakeAsync();
    }

    public Task Wake() => Pending.Count > 0 ? WakeAsync() : Task.CompletedTask;

    private async Task WakeAsync()
    {
        // The reminder brings this grain back (a restart, a silo gone) while anything is pending.
        await this.RegisterOrUpdateReminder(DeliveryReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        StartDeliverer();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (Pending.Count > 0) StartDeliverer();
        else if (await this.GetReminder(reminderName) is { } reminder) await this.UnregisterReminder(reminder);
    }

    /// <summary>Sends the events that are due, oldest first, outside the lock; records each outcome under it.</summary>
    private async Task DeliverAsync()
    {
        if (_delivering) return;
        _delivering = true;
        try
        {
            foreach (var delivery in Pending.Where(d => d.NextAttempt <= DateTimeOffset.UtcNow).ToList())
            {
                var sent = await webhooks.SendAsync(delivery.Webhook.Url, delivery.Webhook.Secret, delivery.Id, delivery.Body);
                await MutateAsync(() =>
                {
                    if (sent) Pending.Remove(delivery);
                    else if (DateTimeOffset.UtcNow - delivery.CreatedAt > options.MaxAge)
                    {
                        Pending.Remove(delivery);
                        LogDropped(Tenant, delivery.Id, delivery.Attempts + 1);
                    }
                    else
                    {
                        delivery.Attempts++;
                        var backoff = TimeSpan.FromSeconds(Math.Pow(2, delivery.Attempts - 1));
                        delivery.NextAttempt = DateTimeOffset.UtcNow + (backoff < MaxBackoff ? backoff : MaxBackoff);
                    }
                });
            }
            if (Pending.Count == 0)
            {
                _deliverer?.Dispose();
                _deliverer = null;
            }
        }
        finally
        {
            _delivering = false;
        }
    }

    private async Task MutateAsync(Action change)
    {
        await _write.WaitAsync();
        try
        {
            change();
            await state.WriteStateAsync();
        }
        finally
        {
            _write.Release();
        }
    }

    private void StartDeliverer() => _deliverer ??= this.RegisterGrainTimer(DeliverAsync,
        new GrainTimerCreationOptions(TimeSpan.Zero, DeliveryTick) { KeepAlive = true, Interleave = true });

    [LoggerMessage(LogLevel.Warning, "Tenant {Tenant}: webhook event {Event} dropped after {Attempts} failed attempts")]
    private partial void LogDropped(string tenant, string @event, int attempts);
}
