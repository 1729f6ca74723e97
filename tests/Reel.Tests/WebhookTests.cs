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
    internal sealed record Delivery(string Id, string Timestamp, string Signature, string Body, int Attempt);

    /// <summary>
    /// A receiver that answers 500 to the first <paramref name="failures"/> attempts of every message, then 200, on
    /// <paramref name="port"/> (0: any free one).
    /// </summary>
    internal static async Task<(WebApplication App, ConcurrentQueue<Delivery> Seen)> ReceiverAsync(int failures, int port = 0)
    {
        var seen = new ConcurrentQueue<Delivery>();
        var attempts = new ConcurrentDictionary<string, int>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
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
    }
}

/// <summary>Which webhook addresses count as public: no fixture, so the fast tier runs them on a bare machine.</summary>
public sealed class WebhookAddressTests
{
    [Theory]
    [Trait(Tier.Name, Tier.Fast)]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.19.255.255")]
    [InlineData("192.0.0.8")]
    [InlineData("203.0.113.9")]
    [InlineData("240.0.0.1")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fd00::1")]
    [InlineData("fe80::1")]
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("64:ff9b::a9fe:a9fe")] // NAT64 of 169.254.169.254
    [InlineData("64:ff9b:1::1")]
    [InlineData("2002:0a00:0001::1")] // 6to4 of 10.0.0.1
    [InlineData("2001:0:0a00:1::1")] // Teredo with a private server
    [InlineData("2001:0:5db8:d822::f5ff:fffe")] // Teredo with client 10.0.0.1 (obscured)
    [InlineData("2001:db8::1")]
    public void Special_purpose_addresses_and_private_ones_carried_inside_IPv6_are_not_public(string address) =>
        Assert.False(WebhookSender.IsPublic(IPAddress.Parse(address)), address);

    [Theory]
    [Trait(Tier.Name, Tier.Fast)]
    [InlineData("93.184.216.34")]
    [InlineData("2606:2800:220:1:248:1893:25c8:1946")]
    [InlineData("64:ff9b::5db8:d822")] // NAT64 of 93.184.216.34
    [InlineData("2002:5db8:d822::1")] // 6to4 of 93.184.216.34
    public void Globally_reachable_addresses_are_public(string address) =>
        Assert.True(WebhookSender.IsPublic(IPAddress.Parse(address)), address);
}
