using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Reel.Grains;

/// <summary>
/// The Standard Webhooks scheme (docs/contracts.md, "Webhooks"): <c>webhook-signature: v1,base64(HMAC-SHA256(key,
/// "{webhook-id}.{webhook-timestamp}.{body}"))</c>, the key being the base64 after <c>whsec_</c> in the tenant's secret.
/// </summary>
public static class StandardWebhook
{
    public const string SecretPrefix = "whsec_";

    /// <summary>How far a receiver should let a timestamp stray from its clock before it calls the message stale.</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static bool IsSecret(string? secret) => secret is not null && secret.StartsWith(SecretPrefix, StringComparison.Ordinal) && Key(secret) is { Length: >= 16 };

    public static string Sign(string secret, string id, long timestamp, string body) =>
        "v1," + Convert.ToBase64String(HMACSHA256.HashData(Key(secret)!, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));

    /// <summary>
    /// The receiver's check: one of the signatures in the header (space-separated <c>v1,…</c>) matches, compared in
    /// constant time, and the timestamp is within <see cref="Tolerance"/> of <paramref name="now"/>.
    /// </summary>
    public static bool Verify(string secret, string id, string timestamp, string signatures, string body, DateTimeOffset now)
    {
        if (!long.TryParse(timestamp, out var seconds) || (now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > Tolerance) return false;
        var expected = Encoding.ASCII.GetBytes(Sign(secret, id, seconds, body));
        return signatures.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), expected));
    }

    private static byte[]? Key(string secret)
    {
        try
        {
            return Convert.FromBase64String(secret[SecretPrefix.Length..]);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>Where webhooks may go (docs/contracts.md, "Webhooks").</summary>
public sealed class WebhookOptions
{
    /// <summary>Whether deliveries may reach loopback, private, link-local and unique-local addresses. Default false.</summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>How long an event is retried before it is dropped. Default 24 h.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>
/// Sends signed webhook requests. The address a request connects to is checked when it connects (after DNS), so a
/// name that resolves to a private address is refused too unless the operator allows it.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private readonly HttpClient _http;

    public WebhookSender(WebhookOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            ConnectCallback = async (context, cancel) =>
            {
                var addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancel);
                var allowed = addresses.Where(a => options.AllowPrivateAddresses || IsPublic(a)).ToArray();
                if (allowed.Length == 0)
                    throw new HttpRequestException($"Webhooks to {context.DnsEndPoint.Host} are refused: it is not a public address.");
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancel);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
    }

    /// <summary>Posts <paramref name="body"/> signed with <paramref name="secret"/>; true on a 2xx answer.</summary>
    public async Task<bool> SendAsync(string url, string secret, string id, string body)
    {
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", StandardWebhook.Sign(secret, id, timestamp, body));
        try
        {
            using var response = await _http.SendAsync(request);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// IANA's special-purpose ranges that are not globally reachable (both registries), plus documentation and
    /// benchmarking ranges: no webhook receiver lives there.
    /// </summary>
    private static readonly IPNetwork[] SpecialPurpose = [.. new[]
    {
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4",
        "::/96", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16",
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    }.Select(IPNetwork.Parse)];

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");
    private static readonly IPNetwork Teredo = IPNetwork.Parse("2001::/32");

    /// <summary>
    /// Whether an address is globally reachable. An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4, and
    /// Teredo's server and obscured client) is judged by what it carries, so a private v4 cannot hide inside it.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) return IsPublic(address.MapToIPv4());
        var b = address.GetAddressBytes();
        if (Nat64.Contains(address)) return IsPublic(new IPAddress(b[12..16]));
        if (SixToFour.Contains(address)) return IsPublic(new IPAddress(b[2..6]));
        if (Teredo.Contains(address))
            return IsPublic(new IPAddress(b[4..8])) && IsPublic(new IPAddress(b[12..16].Select(x => (byte)~x).ToArray()));
        return !SpecialPurpose.Any(range => range.Contains(address));
    }

    /// <summary>
    /// The addresses <paramref name="url"/>'s host resolves to that are not public (none: it may receive webhooks):
    /// what an operator is told before the URL is stored. Delivery checks again when it connects, as names move.
    /// Throws a <see cref="SocketException"/> when the host does not resolve.
    /// </summary>
    public static IReadOnlyList<IPAddress> PrivateAddresses(Uri url) => [.. Dns.GetHostAddresses(url.DnsSafeHost).Where(a => !IsPublic(a))];

    public void Dispose() => _http.Dispose();
}
