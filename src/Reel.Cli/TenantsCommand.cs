using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Reel.Abstractions;
using Reel.Gateway;
using Reel.Grains;
using Microsoft.Extensions.Hosting;
using Reel.Hosting;

namespace Reel.Cli;

/// <summary>
/// <c>reel tenants add|list|rotate|revoke</c>: the tenants file the gateway reads. A new key is printed once on
/// stdout and only its hash is stored; rotating adds a key beside the old ones, revoking removes one.
/// </summary>
public static class TenantsCommand
{
    public static Command Create()
    {
        var file = new Option<FileInfo>("--file") { Description = $"The tenants file (default {TenantDirectory.DefaultPath})", DefaultValueFactory = _ => new FileInfo(TenantDirectory.DefaultPath) };
        var name = new Argument<string>("name") { Description = "The tenant" };

        var pool = new Option<string>("--pool") { Description = "The pool its videos are made in", DefaultValueFactory = _ => "default" };
        var weight = new Option<double>("--weight") { Description = "Its share of the pool", DefaultValueFactory = _ => 1 };
        var maxActive = new Option<int?>("--max-active") { Description = "Videos it may have queued or running at once (default unlimited)" };
        var maxSeconds = new Option<double?>("--max-seconds") { Description = "Longest video it may ask for, in seconds (default: the model's maximum)" };
        var perDay = new Option<double?>("--seconds-per-day") { Description = "Seconds of video it may ask for per UTC day (default unlimited)" };
        var perMinute = new Option<int?>("--requests-per-minute") { Description = "Requests per minute, per gateway replica (default unlimited)" };
        var storage = new Option<long?>("--storage-bytes") { Description = "Bytes its videos and uploads may take (default unlimited)" };
        var retention = new Option<double>("--retention-hours") { Description = "How long a video is kept after it ends", DefaultValueFactory = _ => 168 };
        var add = new Command("add", "Add a tenant with a new key (printed once)")
        {
            name, file, pool, weight, maxActive, maxSeconds, perDay, perMinute, storage, retention,
        };
        add.SetAction(result => Run(() =>
        {
            var path = result.GetValue(file)!.FullName;
            var tenants = TenantsFile.Read(path);
            var tenantName = result.GetValue(name)!;
            if (!SessionKey.IsValidTenant(tenantName)) throw new TenantsFileException($"'{tenantName}' is not a tenant name: letters, digits, '-' and '_', up to 64.");
            if (tenants.Find(tenantName) is not null) throw new TenantsFileException($"Tenant '{tenantName}' exists: use 'reel tenants rotate {tenantName}' for a new key.");
            if (!SessionKey.IsValidPool(result.GetValue(pool)!)) throw new TenantsFileException($"Pool '{result.GetValue(pool)}' is not 1-32 lowercase letters, digits and '-'.");
            if (!(result.GetValue(weight) > 0)) throw new TenantsFileException("--weight must be more than 0.");
            if (result.GetValue(maxActive) is < 1) throw new TenantsFileException("--max-active must be at least 1.");
            if (result.GetValue(perMinute) is < 1) throw new TenantsFileException("--requests-per-minute must be at least 1.");
            if (result.GetValue(storage) is < 1) throw new TenantsFileException("--storage-bytes must be at least 1.");
            foreach (var (flag, value) in new[] { ("--max-seconds", result.GetValue(maxSeconds)), ("--seconds-per-day", result.GetValue(perDay)), ("--retention-hours", result.GetValue(retention)) })
                if (value is not null && !(value > 0)) throw new TenantsFileException($"{flag} must be more than 0.");
            var (key, stored) = ApiKeys.Create();
            tenants.With(new Tenant
            {
                Name = tenantName, Keys = [stored], Pool = result.GetValue(pool)!, Weight = result.GetValue(weight), MaxActiveVideos = result.GetValue(maxActive),
                MaxSecondsPerVideo = result.GetValue(maxSeconds), SecondsPerDay = result.GetValue(perDay), RequestsPerMinute = result.GetValue(perMinute),
                StorageBytes = result.GetValue(storage), RetentionHours = result.GetValue(retention),
            }).Write(path);
            Console.Error.WriteLine($"Tenant '{tenantName}' added to {path}; its key (shown once, only its hash is kept):");
            Console.WriteLine(key);
        }));

        var list = new Command("list", "List tenants, their pools and key ids (never keys)") { file };
        list.SetAction(result => Run(() =>
        {
            foreach (var tenant in TenantsFile.Read(result.GetValue(file)!.FullName).Tenants)
                Console.WriteLine($"{tenant.Name}\tpool={tenant.Pool}\tweight={tenant.Weight}\tkeys={string.Join(',', tenant.Keys.Select(k => k.Id))}");
        }));

        var rotate = new Command("rotate", "Give a tenant a new key; its old keys stay live until revoked") { name, file };
        rotate.SetAction(result => Run(() =>
        {
            var path = result.GetValue(file)!.FullName;
            var tenants = TenantsFile.Read(path);
            var tenant = Existing(tenants, result.GetValue(name)!);
            var (key, stored) = ApiKeys.Create();
            tenants.With(tenant with { Keys = [.. tenant.Keys, stored] }).Write(path);
            Console.Error.WriteLine($"New key {stored.Id} for '{tenant.Name}' (shown once); revoke the old ones with 'reel tenants revoke {tenant.Name} --key ID':");
            Console.WriteLine(key);
        }));

        var keyId = new Option<string?>("--key") { Description = "The key id to revoke (see list); without it, every key of the tenant" };
        var revoke = new Command("revoke", "Revoke one key of a tenant, or all of them") { name, file, keyId };
        revoke.SetAction(result => Run(() =>
        {
            var path = result.GetValue(file)!.FullName;
            var tenants = TenantsFile.Read(path);
            var tenant = Existing(tenants, result.GetValue(name)!);
            var id = result.GetValue(keyId);
            if (id is not null && tenant.Keys.All(k => k.Id != id)) throw new TenantsFileException($"Tenant '{tenant.Name}' has no key '{id}'.");
            tenants.With(tenant with { Keys = id is null ? [] : [.. tenant.Keys.Where(k => k.Id != id)] }).Write(path);
            Console.Error.WriteLine(id is null ? $"Every key of '{tenant.Name}' revoked." : $"Key {id} of '{tenant.Name}' revoked.");
        }));

        var url = new Option<string?>("--url") { Description = "Where its video.completed and video.failed events are posted (https; without it, webhooks are turned off)" };
        var allowPrivate = new Option<bool>("--allow-private")
        {
            Description = "Accept a URL on loopback or a private network (the silos deliver there only with Reel:WebhooksToPrivateAddresses)",
        };
        var webhook = new Command("webhook", "Set a tenant's webhook URL; a new signing secret is printed once") { name, file, url, allowPrivate };
        webhook.SetAction(result => Run(() =>
        {
            var path = result.GetValue(file)!.FullName;
            var tenants = TenantsFile.Read(path);
            var tenant = Existing(tenants, result.GetValue(name)!);
            if (result.GetValue(url) is not { } target)
            {
                tenants.With(tenant with { WebhookUrl = null, WebhookSecret = null }).Write(path);
                Console.Error.WriteLine($"Webhooks of '{tenant.Name}' turned off.");
                return;
            }
            if (!Uri.TryCreate(target, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
                throw new TenantsFileException($"--url '{target}' is not an http(s) URL.");
            if (!result.GetValue(allowPrivate)) RequirePublic(uri);
            var secret = StandardWebhook.NewSecret();
            tenants.With(tenant with { WebhookUrl = target, WebhookSecret = secret }).Write(path);
            Console.Error.WriteLine($"Webhook of '{tenant.Name}' set to {target}; its signing secret (shown once):");
            Console.WriteLine(secret);
        }));

        var redis = new Option<string?>("--redis") { Description = "The cluster's Redis (without it: the `reel serve` on this machine)" };
        var gatewayPort = new Option<int>("--gateway-port") { Description = "The local `reel serve`'s client gateway port", DefaultValueFactory = _ => 30000 };
        var days = new Option<int>("--days") { Description = "UTC days to show, today first", DefaultValueFactory = _ => 7 };
        var usage = new Command("usage", "A tenant's usage per UTC day: videos, seconds of video, model seconds, seconds asked for")
        {
            name, redis, gatewayPort, days,
        };
        usage.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            if (result.GetValue(days) is < 1 or > 366) throw new ReelConfigurationException("--days must be between 1 and 366.");
            var tenant = result.GetValue(name)!;
            if (!SessionKey.IsValidTenant(tenant)) throw new ReelConfigurationException($"'{tenant}' is not a tenant name.");
            await using var client = await ClusterClient.ConnectAsync(c =>
            {
                if (result.GetValue(redis) is { } connection) c.UseRedisClustering(connection);
                else c.UseLocalhostClustering(result.GetValue(gatewayPort));
            }, cancel);
            Console.WriteLine("date\tvideos\tseconds\tmodel_seconds\trequested_seconds");
            foreach (var day in await client.Sessions.UsageAsync(tenant, result.GetValue(days)))
                Console.WriteLine(FormattableString.Invariant($"{day.Day:yyyy-MM-dd}\t{day.Videos}\t{day.Seconds:0.###}\t{day.ModelSeconds:0.###}\t{day.RequestedSeconds:0.###}"));
        }));

        return new Command("tenants", "Manage the tenants file the gateway reads; see a tenant's usage") { add, list, rotate, revoke, webhook, usage };
    }

    /// <summary>
    /// The silos refuse to deliver to an address that is not public (<see cref="WebhookSender.IsPublic"/>), so such a
    /// URL is refused here, before it is stored: a host name is resolved, and every address it gives must be public.
    /// </summary>
    private static void RequirePublic(Uri uri)
    {
        IReadOnlyList<IPAddress> refused;
        try
        {
            refused = WebhookSender.PrivateAddresses(uri);
        }
        catch (SocketException e)
        {
            throw new TenantsFileException($"--url host '{uri.Host}' does not resolve: {e.Message}.");
        }
        if (refused.Count > 0)
            throw new TenantsFileException($"--url '{uri}' reaches {string.Join(", ", refused)}, not a public address: silos deliver there only " +
                "with Reel:WebhooksToPrivateAddresses; pass --allow-private if they do.");
    }

    private static Tenant Existing(TenantsFile tenants, string name) =>
        tenants.Find(name) ?? throw new TenantsFileException($"No tenant '{name}'.");

    private static int Run(Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (Exception e) when (e is TenantsFileException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"reel: {e.Message}");
            return 1;
        }
    }
}
