using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Reel.Abstractions;

/// <summary>
/// The key of a generation session grain: <c>tenant/pool/weights/session</c>. Placement runs before a grain's state
/// is loaded and sees only this key, so it carries everything placement needs: the pool whose model silos may run the
/// session and the weights version (<see cref="WeightsVersion"/>) they must hold. The video it makes is recorded by the
/// video grain <see cref="VideoGrainKey"/> (<c>tenant/session</c>), which outlives the weights; a tenant's clients see
/// the video id <c>video_{session}</c>. The tenant comes from their credentials, so the same id names a different
/// (absent) video for any other tenant.
/// </summary>
[GenerateSerializer, Immutable]
public sealed partial record SessionKey
{
    public const string VideoIdPrefix = "video_";

    public SessionKey(string tenant, string pool, string weights, string session)
    {
        Require(TenantPattern(), tenant, "tenant");
        Require(PoolPattern(), pool, "pool");
        if (!WeightsVersion.IsValid(weights)) throw new ArgumentException($"'{weights}' is not a weights version.", nameof(weights));
        Require(SessionPattern(), session, "session id");
        (Tenant, Pool, Weights, Session) = (tenant, pool, weights, session);
    }

    [Id(0)] public string Tenant { get; }
    [Id(1)] public string Pool { get; }
    [Id(2)] public string Weights { get; }
    [Id(3)] public string Session { get; }

    public static SessionKey New(string tenant, string pool, string weights) => new(tenant, pool, weights, Guid.NewGuid().ToString("N"));

    public string VideoId => $"{VideoIdPrefix}{Session}";

    /// <summary>The key of the grain that records this session's video: <c>tenant/session</c>.</summary>
    public string VideoGrainKey => $"{Tenant}/{Session}";

    public override string ToString() => $"{Tenant}/{Pool}/{Weights}/{Session}";

    public static SessionKey Parse(string key) =>
        TryParse(key, out var parsed) ? parsed : throw new FormatException($"'{key}' is not a session key (tenant/pool/weights/session).");

    public static bool TryParse(string? key, [NotNullWhen(true)] out SessionKey? parsed) =>
        TryCreate(key?.Split('/'), out parsed);

    /// <summary>The video grain key a tenant's video id names; false for anything that is not a video id.</summary>
    public static bool TryVideoGrainKey(string tenant, string? videoId, [NotNullWhen(true)] out string? grainKey)
    {
        grainKey = null;
        if (videoId is null || !videoId.StartsWith(VideoIdPrefix, StringComparison.Ordinal) || !TenantPattern().IsMatch(tenant)) return false;
        var session = videoId[VideoIdPrefix.Length..];
        if (!SessionPattern().IsMatch(session)) return false;
        grainKey = $"{tenant}/{session}";
        return true;
    }

    public static bool IsValidTenant(string tenant) => TenantPattern().IsMatch(tenant);

    public static bool IsValidPool(string pool) => PoolPattern().IsMatch(pool);

    private static bool TryCreate(string[]? parts, [NotNullWhen(true)] out SessionKey? parsed)
    {
        parsed = null;
        if (parts is not [var tenant, var pool, var weights, var session]) return false;
        if (!TenantPattern().IsMatch(tenant) || !PoolPattern().IsMatch(pool) || !WeightsVersion.IsValid(weights) || !SessionPattern().IsMatch(session))
            return false;
        parsed = new SessionKey(tenant, pool, weights, session);
        return true;
    }

    private static void Require(Regex pattern, string value, string what)
    {
        if (!pattern.IsMatch(value)) throw new ArgumentException($"'{value}' is not a valid {what}.", what);
    }

    // Tenants and pools become artifact-name segments and video-id parts: no '/', and pools no '_'.
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
    private static partial Regex TenantPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$")]
    private static partial Regex PoolPattern();

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex SessionPattern();
}

/// <summary>
/// The short form of a weights hash that session keys carry: the first 16 hex digits of its SHA-256
/// (<c>sha256:6036f4d5…</c> → <c>6036f4d5…</c>), or <see cref="Latest"/> when the session was created while its pool
/// had no model silo yet and runs on whatever weights the pool's silos hold when it is admitted.
/// </summary>
public static partial class WeightsVersion
{
    public const string Latest = "latest";

    public static string Of(string weightsHash)
    {
        const string prefix = "sha256:";
        if (!weightsHash.StartsWith(prefix, StringComparison.Ordinal) || weightsHash.Length < prefix.Length + 16)
            throw new ArgumentException($"'{weightsHash}' is not a sha256: weights hash.", nameof(weightsHash));
        return weightsHash.Substring(prefix.Length, 16);
    }

    public static bool IsValid(string version) => version == Latest || Hex16().IsMatch(version);

    /// <summary>Whether a silo holding <paramref name="weightsHash"/> may run a session keyed with <paramref name="version"/>.</summary>
    public static bool Matches(string version, string weightsHash) => version == Latest || Of(weightsHash) == version;

    [GeneratedRegex("^[0-9a-f]{16}$")]
    private static partial Regex Hex16();
}
