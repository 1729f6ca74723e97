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
    /// <summary>The file as last read and its tenants by key hash, swapped as one.</summary>
    private sealed record Loaded(TenantsFile File, IReadOnlyDictionary<string, Tenant> ByKeyHash)
    {
        public static Loaded From(TenantsFile file) =>
            new(file, file.Tenants.SelectMany(t => t.Keys.Select(k => (k.Sha256, t))).ToDictionary(p => p.Sha256, p => p.t));
    }

    private volatile Loaded _loaded = Loaded.From(TenantsFile.Read(path));
    private DateTime _lastWrite = LastWrite(path);

    /// <summary>
    /// The tenant whose live key this is, or null. Lookup is by the key's SHA-256, so timing can reveal nothing about
    /// stored keys beyond what a hash preimage would.
    /// </summary>
    public Tenant? Authenticate(string? key) =>
        string.IsNullOrEmpty(key) ? null : _loaded.ByKeyHash.GetValueOrDefault(ApiKeys.Hash(key));

    /// <summary>Every tenant of the file as last read, with or without live keys.</summary>
    public IReadOnlyList<Tenant> Tenants => _loaded.File.Tenants;

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
            _loaded = Loaded.From(TenantsFile.Read(path));
            _lastWrite = lastWrite;
            LogReloaded(path, _loaded.File.Tenants.Count);
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

    private static DateTime LastWrite(string path) => File.Exists(path) ? File.GetLastWriteTimeUtc(path) : DateTime.MinValue;

    [LoggerMessage(LogLevel.Information, "Tenants reloaded from {Path}: {Count} tenant(s)")]
    private partial void LogReloaded(string path, int count);

    [LoggerMessage(LogLevel.Error, "Tenants file {Path} not reloaded, keeping the last good one: {Reason}")]
    private partial void LogReloadFailed(string path, string reason);
}
