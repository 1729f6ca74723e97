using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Reel.Gateway;
using Reel.Grains;

namespace Reel.Tests;

/// <summary>Webhooks from the in-process gateway's cluster to a receiver on loopback (allowed here, as a test setting).</summary>
public sealed partial class GatewayApiTests
{
    private sealed record Delivery(string Id, string Timestamp, string Signature, string Body, int Attempt);

    /// <summary>A receiver that answers 500 to the first <paramref name="failures"/> attempts of every message, then 200.</summary>
    private static async Task<(WebApplication App, ConcurrentQueue<Delivery> Seen)> ReceiverAsync(int failures)
    {
        var seen = new ConcurrentQueue<Delivery>();
        var attempts = new ConcurrentDictionary<string, int>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/hook", async (HttpContext http) =>
        {
            var body = await new StreamReader(http.Request.Body).ReadToEndAsync();
            var id = http.Request.Headers["webhook-id"].ToString();
            var attempt = attempts.AddOrUpdate(id, 1, (_, n) => n + 1);
            seen.Enqueue(new Delivery(id, http.Request.Headers["webhook-timestamp"].ToString(), http.Request.Headers["webhook-signature"].ToString(), body, attempt));
            return attempt <= failures ? Results.StatusCode(500) : Results.Ok();
        });
        await app.StartAsync();
        return (app, seen);
    }

    [Fact]
    public async Task Webhooks_are_signed_retried_after_failures_and_delivered_at_least_once()
    {
        var (receiver, seen) = await ReceiverAsync(failures: 2);
        await using var _ = receiver;
        var secret = StandardWebhook.NewSecret();
        using var hooked = await fixture.AddTenantAsync(new Tenant { Name = "hooked", WebhookUrl = receiver.Urls.First() + "/hook", WebhookSecret = secret });
        var done = await hooked.CompletedAsync(hooked.PostJsonAsync("videos", new { prompt = "tell me when it is done", seconds = "1" }));
        var cancelled = Id((await hooked.PostJsonAsync("videos", new { prompt = "never mind", seconds = "4" })).Body);
        await hooked.SendAsync(HttpMethod.Post, $"videos/{cancelled}/cancel");

        // Each event fails twice, then arrives: three attempts with one webhook-id (receivers deduplicate by it).
        await ReelClusterFixture.Until(() => Task.FromResult(seen.Count(d => d.Attempt == 3) == 2), TimeSpan.FromSeconds(30));
        var events = seen.Where(d => d.Attempt == 3).Select(d => (Delivery: d, Json: JsonDocument.Parse(d.Body).RootElement)).ToList();
        var completed = Assert.Single(events, e => e.Json.GetProperty("type").GetString() == "video.completed");
        Assert.Equal(Id(done), completed.Json.GetProperty("data").GetProperty("id").GetString());
        var failed = Assert.Single(events, e => e.Json.GetProperty("type").GetString() == "video.failed");
        Assert.Equal(cancelled, failed.Json.GetProperty("data").GetProperty("id").GetString());
        foreach (var (delivery, json) in events)
        {
            Assert.StartsWith("msg_", delivery.Id);
            Assert.Equal(delivery.Id, json.GetProperty("id").GetString());
            Assert.True(StandardWebhook.Verify(secret, delivery.Id, delivery.Timestamp, delivery.Signature, delivery.Body, DateTimeOffset.UtcNow));
            Assert.Equal(3, seen.Count(d => d.Id == delivery.Id));
        }

        // The documented check catches a forged body, a foreign secret and a stale (replayed) message.
        var (sample, _) = events[0];
        Assert.False(StandardWebhook.Verify(secret, sample.Id, sample.Timestamp, sample.Signature, sample.Body.Replace("video.", "video.x"), DateTimeOffset.UtcNow));
        Assert.False(StandardWebhook.Verify(StandardWebhook.NewSecret(), sample.Id, sample.Timestamp, sample.Signature, sample.Body, DateTimeOffset.UtcNow));
        Assert.False(StandardWebhook.Verify(secret, sample.Id, sample.Timestamp, sample.Signature, sample.Body, DateTimeOffset.UtcNow.AddMinutes(10)));
    }

    [Fact]
    public async Task Webhooks_to_loopback_and_private_addresses_are_refused_unless_allowed()
    {
        var (receiver, seen) = await ReceiverAsync(failures: 0);
        await using var _ = receiver;
        using var strict = new WebhookSender(new WebhookOptions());
        var secret = StandardWebhook.NewSecret();
        Assert.False(await strict.SendAsync(receiver.Urls.First() + "/hook", secret, "msg_1", "{}"));
        Assert.False(await strict.SendAsync(receiver.Urls.First().Replace("127.0.0.1", "localhost") + "/hook", secret, "msg_2", "{}"));
        Assert.Empty(seen);
        using var lenient = new WebhookSender(new WebhookOptions { AllowPrivateAddresses = true });
        Assert.True(await lenient.SendAsync(receiver.Urls.First() + "/hook", secret, "msg_3", "{}"));
        Assert.Single(seen);
        foreach (var address in new[] { "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00::1", "100.64.0.1" })
            Assert.False(WebhookSender.IsPublic(IPAddress.Parse(address)), address);
        Assert.True(WebhookSender.IsPublic(IPAddress.Parse("93.184.216.34")));
    }
}
