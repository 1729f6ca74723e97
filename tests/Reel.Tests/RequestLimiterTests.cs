using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Reel.Gateway;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public sealed class RequestLimiterTests
{
    /// <summary>A clock the test moves by hand: a test setting, so that a minute's window needs no minute.</summary>
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void A_refusal_says_when_the_window_ends_and_the_next_window_admits_again()
    {
        var clock = new Clock();
        var limiter = new TenantRateLimiter(clock);
        var chatty = new Tenant { Name = "chatty", RequestsPerMinute = 3 };
        for (var i = 0; i < 3; i++) Assert.Null(limiter.TryAcquire(chatty));
        clock.Now += TimeSpan.FromSeconds(45);
        Assert.Equal(TimeSpan.FromSeconds(15), limiter.TryAcquire(chatty));
        // Another tenant has its own window.
        Assert.Null(limiter.TryAcquire(new Tenant { Name = "quiet", RequestsPerMinute = 1 }));
        clock.Now += TimeSpan.FromSeconds(15);
        Assert.Null(limiter.TryAcquire(chatty));
        Assert.Null(limiter.TryAcquire(new Tenant { Name = "unlimited" }));
    }

    [Fact]
    public void Wrong_keys_from_one_address_back_off_doubling_and_a_right_key_clears_it()
    {
        var clock = new Clock();
        var throttle = new FailedKeyThrottle(clock, NullLogger<FailedKeyThrottle>.Instance);
        var attacker = IPAddress.Parse("203.0.113.7");
        for (var i = 0; i < FailedKeyThrottle.FreeFailures; i++)
        {
            Assert.Null(throttle.Wait(attacker));
            throttle.Failed(attacker);
        }
        Assert.Equal(TimeSpan.FromSeconds(1), throttle.Wait(attacker));
        // Another address is not held up.
        Assert.Null(throttle.Wait(IPAddress.Parse("198.51.100.1")));
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Null(throttle.Wait(attacker));
        throttle.Failed(attacker);
        Assert.Equal(TimeSpan.FromSeconds(2), throttle.Wait(attacker));
        for (var i = 0; i < 40; i++) throttle.Failed(attacker);
        Assert.Equal(TimeSpan.FromMinutes(15), throttle.Wait(attacker));
        throttle.Succeeded(attacker);
        Assert.Null(throttle.Wait(attacker));
    }
}
