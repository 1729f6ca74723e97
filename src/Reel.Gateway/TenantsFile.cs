using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Reel.Abstractions;

namespace Reel.Gateway;

/// <summary>
/// The tenants file (docs/contracts.md, "Tenants file"): who may call the gateway. Keys are stored only as SHA-256
/// hashes; a tenant may have several live keys at once, which is how a key is rotated.
/// </summary>
public sealed record TenantsFile
{
    public IReadOnlyList<Tenant> Tenants { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The file's tenants; an absent file has none. A malformed file is a <see cref="TenantsFileException"/>.</summary>
    public static TenantsFile Read(string path)
    {
        if (!File.Exists(path)) return new TenantsFile();
        TenantsFile? file;
        try
        {
            file = JsonSerializer.Deserialize<TenantsFile>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new TenantsFileException($"Tenants file '{path}' is not valid JSON: {e.Message}");
        }
        if (file is null) throw new TenantsFileException($"Tenants file '{path}' is empty.");
        foreach (var tenant in file.Tenants)
        {
            if (!SessionKey.IsValidTenant(tenant.Name)) throw new TenantsFileException($"Tenant name '{tenant.Name}' in '{path}' is not valid.");
            if (!SessionKey.IsValidPool(tenant.Pool)) throw new TenantsFileException($"Tenant '{tenant.Name}' names pool '{tenant.Pool}', which is not valid.");
        }
        var duplicate = file.Tenants.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new TenantsFileException($"Tenant '{duplicate.Key}' appears twice in '{path}'.");
        return file;
    }

    /// <summary>Writes the file whole (temporary file and rename), readable only by its owner.</summary>
    public void Write(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, Json));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, path, overwrite: true);
    }

    public TenantsFile With(Tenant tenant) => this with { Tenants = [.. Tenants.Where(t => t.Name != tenant.Name), tenant] };

    public Tenant? Find(string name) => Tenants.FirstOrDefault(t => t.Name == name);
}

/// <summary>One tenant: its keys, the pool its videos are made in, its share of the pool and its limits.</summary>
public sealed record Tenant
{
    public required string Name { get; init; }
    public IReadOnlyList<TenantKey> Keys { get; init; } = [];
    public string Pool { get; init; } = "default";

    /// <summary>Its share of the pool when tenants compete for slots. Default 1.</summary>
    public double Weight { get; init; } = 1;

    /// <summary>Sessions it may have queued or running at once; null is unlimited.</summary>
    public int? MaxActiveVideos { get; init; }

    /// <summary>Longest video it may ask for, in seconds; null is the model's maximum.</summary>
    public double? MaxSecondsPerVideo { get; init; }

    /// <summary>Seconds of video it may ask for per UTC day, over all its gateways; null is unlimited.</summary>
    public double? SecondsPerDay { get; init; }

    /// <summary>Requests per minute it may make, counted by each gateway replica on its own; null is unlimited.</summary>
    public int? RequestsPerMinute { get; init; }

    /// <summary>Bytes its stored videos and uploads may take; null is unlimited.</summary>
    public long? StorageBytes { get; init; }

    /// <summary>How long a video is kept after it ends, in hours. Default 168 (7 days).</summary>
    public double RetentionHours { get; init; } = 168;

    /// <summary>Where its <c>video.completed</c> / <c>video.failed</c> events are posted; null sends none.</summary>
    public string? WebhookUrl { get; init; }

    /// <summary>The Standard Webhooks secret (<c>whsec_</c> + base64) its events are signed with.</summary>
    public string? WebhookSecret { get; init; }

    /// <summary>The webhook its account sends events to, when it has both a URL and a secret.</summary>
    [JsonIgnore]
    public TenantWebhook? Webhook => WebhookUrl is { } url && WebhookSecret is { } secret ? new TenantWebhook(url, secret) : null;

    /// <summary>What the tenant's account checks each create against.</summary>
    [JsonIgnore]
    public TenantLimits Limits => new()
    {
        MaxActiveVideos = MaxActiveVideos, SecondsPerDay = SecondsPerDay, StorageBytes = StorageBytes, Weight = Weight,
    };
}

/// <summary>A key as stored: an id to name it by (revoke), the SHA-256 of the key, when it was made.</summary>
public sealed record TenantKey(string Id, string Sha256, DateTimeOffset Created);

/// <summary>API keys: <c>reel_</c> and 43 base64url characters (32 random bytes); only their hashes are kept.</summary>
public static class ApiKeys
{
    public const string Prefix = "reel_";

    /// <summary>A new key and its stored form.</summary>
    public static (string Key, TenantKey Stored) Create()
    {
        var key = Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var hash = Hash(key);
        return (key, new TenantKey("k_" + hash[..8], hash, DateTimeOffset.UtcNow));
    }

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}

/// <summary>A tenants file that cannot be used; the message names the problem.</summary>
public sealed class TenantsFileException(string message) : Exception(message);
