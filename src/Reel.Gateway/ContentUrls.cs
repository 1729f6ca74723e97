using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Reel.Abstractions;

namespace Reel.Gateway;

/// <summary>
/// Short-lived signed content URLs (docs/contracts.md, "Web page"): <c>/content/{payload}.{signature}</c>, the payload
/// naming the tenant, the video, the variant and the expiry, the signature HMAC-SHA256 of the payload with the
/// gateway's key. A video element can play one without the API key, which never goes into a URL.
/// </summary>
public sealed class ContentUrls(GatewayOptions options)
{
    private readonly byte[] _key = options.ContentUrlKey ?? RandomNumberGenerator.GetBytes(32);

    public TimeSpan Lifetime => options.ContentUrlLifetime;

    public (string Url, DateTimeOffset ExpiresAt) Sign(string tenant, SessionKey key, string variant, DateTimeOffset now)
    {
        var expires = now + Lifetime;
        var payload = Encoding.UTF8.GetBytes($"{tenant}/{key.VideoId}/{variant}/{expires.ToUnixTimeSeconds()}");
        return ($"/content/{WebEncoders.Base64UrlEncode(payload)}.{WebEncoders.Base64UrlEncode(HMACSHA256.HashData(_key, payload))}", expires);
    }

    /// <summary>What a token grants — a tenant's video and a variant — or why not: <c>invalid</c> (forged, damaged) or <c>expired</c>.</summary>
    public (string? Tenant, string? VideoId, string? Variant, string? Refusal) Verify(string token, DateTimeOffset now)
    {
        var parts = token.Split('.');
        if (parts.Length != 2) return (null, null, null, "invalid");
        byte[] payload, signature;
        try
        {
            (payload, signature) = (WebEncoders.Base64UrlDecode(parts[0]), WebEncoders.Base64UrlDecode(parts[1]));
        }
        catch (FormatException)
        {
            return (null, null, null, "invalid");
        }
        if (!CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(_key, payload), signature)) return (null, null, null, "invalid");
        var fields = Encoding.UTF8.GetString(payload).Split('/');
        if (fields.Length != 4 || !long.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out var expires))
            return (null, null, null, "invalid");
        return now.ToUnixTimeSeconds() >= expires ? (null, null, null, "expired") : (fields[0], fields[1], fields[2], null);
    }
}
