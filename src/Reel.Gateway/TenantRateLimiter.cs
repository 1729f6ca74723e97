using System.Threading.RateLimiting;

namespace Reel.Gateway;

/// <summary>
/// Each tenant's requests per minute (its <see cref="Tenant.RequestsPerMinute"/>), counted by this gateway replica
/// alone: N replicas let a tenant make up to N times its rate. A fixed one-minute window per tenant and limit, so a
/// changed limit starts a fresh window.
/// </summary>
public sealed class TenantRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<Tenant> _limiter = PartitionedRateLimiter.Create<Tenant, string>(tenant =>
        tenant.RequestsPerMinute is { } perMinute
            ? RateLimitPartition.GetFixedWindowLimiter($"{tenant.Name}:{perMinute}", _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0, AutoReplenishment = true,
            })
            : RateLimitPartition.GetNoLimiter(tenant.Name));

    public RateLimitLease Acquire(Tenant tenant) => _limiter.AttemptAcquire(tenant);

    /// <summary>When a refused request may try again: the limiter's own figure, else the window.</summary>
    public static TimeSpan RetryAfter(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMinutes(1);

    public void Dispose() => _limiter.Dispose();
}
