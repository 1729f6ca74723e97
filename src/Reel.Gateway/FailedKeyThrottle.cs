using System.Net;
using Microsoft.Extensions.Logging;

namespace Reel.Gateway;

/// <summary>
/// Failed API-key attempts per client address (docs/contracts.md, "Gateway"): after <see cref="FreeFailures"/> in a
/// row, the address waits a back-off that doubles from 1 s to 15 min before it may try again (429
/// <c>too_many_failed_keys</c>); a right key clears it. Each failure is logged with the address, never the key. At
/// most <see cref="MaxAddresses"/> addresses are kept, the longest quiet dropped first.
/// </summary>
public sealed partial class FailedKeyThrottle(TimeProvider time, ILogger<FailedKeyThrottle> logger)
{
    public const int FreeFailures = 10;
    public const int MaxAddresses = 10_000;
    private static readonly TimeSpan LongestWait = TimeSpan.FromMinutes(15);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, (int Failures, DateTimeOffset Last)> _addresses = [];

    /// <summary>How long <paramref name="client"/> must wait before its next attempt, or null when it may try now.</summary>
    public TimeSpan? Wait(IPAddress? client)
    {
        lock (_lock)
        {
            if (!_addresses.TryGetValue(Key(client), out var seen) || seen.Failures < FreeFailures) return null;
            var wait = seen.Last + BackOff(seen.Failures) - time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : null;
        }
    }

    public void Failed(IPAddress? client)
    {
        int failures;
        lock (_lock)
        {
            var key = Key(client);
            failures = _addresses.GetValueOrDefault(key).Failures + 1;
            _addresses[key] = (failures, time.GetUtcNow());
            if (_addresses.Count > MaxAddresses) _addresses.Remove(_addresses.MinBy(a => a.Value.Last).Key);
        }
        LogFailed(Key(client), failures);
    }

    public void Succeeded(IPAddress? client)
    {
        lock (_lock) _addresses.Remove(Key(client));
    }

    private static TimeSpan BackOff(int failures) =>
        TimeSpan.FromSeconds(Math.Min(LongestWait.TotalSeconds, Math.Pow(2, Math.Min(30, failures - FreeFailures))));

    private static string Key(IPAddress? client) => client?.ToString() ?? "unknown";

    [LoggerMessage(LogLevel.Warning, "Refused an API key from {Client} ({Failures} failure(s) in a row)")]
    private partial void LogFailed(string client, int failures);
}
