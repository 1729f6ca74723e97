using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Reel.Gateway;

/// <summary>
/// Who a bearer key belongs to, from the tenants file, reloaded when the file changes. Polling, not file events:
/// a mounted Kubernetes Secret changes by a symlink swap that raises none. A file that turns malformed keeps the last
/// good tenants (and says so in the log).
/// </summary>
public sealed partial class TenantDirectory(string path, TimeSpan pollInterval, ILogger<TenantDirectory> logger) : BackgroundService
{
    private volatile IReadOnlyDictionary<string, Tenant> _byKeyHash = Index(TenantsFile.Read(path));
    private DateTime _lastWrite = LastWrite(path);

    /// <summary>
    /// The tenant whose live key this is, or null. Lookup is by the key's SHA-256, so timing can reveal nothing about
    /// stored keys beyond what a hash preimage would.
    /// </summary>
    public Tenant? Authenticate(string? key) =>
        string.IsNullOrEmpty(key) ? null : _byKeyHash.GetValueOrDefault(ApiKeys.Hash(key));

    public static string DefaultPath => Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } config ? config
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config"),
        "reel", "tenants.json");

    /// <summary>Reloads now if the file changed since the last look.</summary>
    public void Refresh()
    {
        var lastWrite = LastWrite(path);
        if (lastWrite == _lastWrite) return;
        try
        {
            _byKeyHash = Index(TenantsFile.Read(path));
            _lastWrite = lastWrite;
            LogReloaded(path, _byKeyHash.Values.Distinct().Count());
        }
        catch (Exception e) when (e is TenantsFileException or IOException)
        {
            LogReloadFailed(path, e.Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(pollInterval);
        while (await timer.WaitForNextTickAsync(stopping)) Refresh();
    }

    private static IReadOnlyDictionary<string, Tenant> Index(TenantsFile file) =>
        file.Tenants.SelectMany(t => t.Keys.Select(k => (k.Sha256, t))).ToDictionary(p => p.Sha256, p => p.t);

    private static DateTime LastWrite(string path) => File.Exists(path) ? File.GetLastWriteTimeUtc(path) : DateTime.MinValue;

    [LoggerMessage(LogLevel.Information, "Tenants reloaded from {Path}: {Count} tenant(s)")]
    private partial void LogReloaded(string path, int count);

    [LoggerMessage(LogLevel.Error, "Tenants file {Path} not reloaded, keeping the last good one: {Reason}")]
    private partial void LogReloadFailed(string path, string reason);
}
