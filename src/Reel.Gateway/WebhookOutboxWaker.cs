using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;

namespace Reel.Gateway;

/// <summary>
/// Wakes every tenant's webhook outbox once the gateway starts. Reminders bring an outbox back after a restart only
/// where they are durable (Redis); <c>reel serve</c> keeps them in memory, so without this the events a restart left
/// pending would wait for the tenant's next video. First the tenant's account reconciles its active videos: a process
/// that died between a video's end and the account hearing of it (a one-way call) left an event never queued.
/// </summary>
public sealed partial class WebhookOutboxWaker(TenantDirectory tenants, IGrainFactory grains, ILogger<WebhookOutboxWaker> logger) : BackgroundService
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1), LastRetry = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        foreach (var tenant in tenants.Tenants)
        {
            // The cluster may not answer yet while this process (or its silos) starts: keep trying until it does.
            for (var retry = FirstRetry; ; retry = retry * 2 < LastRetry ? retry * 2 : LastRetry)
            {
                try
                {
                    await grains.GetGrain<ITenantAccountGrain>(tenant.Name).Reconcile();
                    await grains.GetGrain<IWebhookOutboxGrain>(tenant.Name).Wake();
                    break;
                }
                catch (Exception e) when (e is OrleansException or TimeoutException)
                {
                    LogNotYet(tenant.Name, e.Message);
                    await Task.Delay(retry, stopping);
                }
            }
        }
    }

    [LoggerMessage(LogLevel.Information, "Webhook outbox of tenant {Tenant} not woken yet: {Reason}")]
    private partial void LogNotYet(string tenant, string reason);
}
