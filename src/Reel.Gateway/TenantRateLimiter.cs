namespace Reel.Gateway;

/// <summary>
/// Each tenant's requests per minute (its <see cref="Tenant.RequestsPerMinute"/>), counted by this gateway replica
/// alone: N replicas let a tenant make up to N times its rate. A fixed one-minute window per tenant and limit, so a
/// changed limit starts a fresh window; a refusal says when the window ends (what Retry-After carries), not a whole
/// minute.
/// </summary>
public sealed class TenantRateLimiter(TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, (DateTimeOffset Start, int Count)> _windows = [];

    /// <summary>Null when the request may go; else how long until the tenant's window opens again.</summary>
    public TimeSpan? TryAcquire(Tenant tenant)
    {
        if (tenant.RequestsPerMinute is not { } perMinute) return null;
        var now = time.GetUtcNow();
        lock (_lock)
        {
            var key = $"{tenant.Name}:{perMinute}";
            var window = _windows.GetValueOrDefault(key);
            if (now - window.Start >= Window) window = (now, 0);
            if (window.Count >= perMinute) return window.Start + Window - now;
            _windows[key] = (window.Start, window.Count + 1);
            return null;
        }
    }
}
