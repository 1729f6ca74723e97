using System.CommandLine;
using Reel.Abstractions;
using Reel.Gateway;

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
        var add = new Command("add", "Add a tenant with a new key (printed once)") { name, file, pool, weight, maxActive };
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
            var (key, stored) = ApiKeys.Create();
            tenants.With(new Tenant
            {
                Name = tenantName, Keys = [stored], Pool = result.GetValue(pool)!, Weight = result.GetValue(weight), MaxActiveVideos = result.GetValue(maxActive),
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

        return new Command("tenants", "Manage the tenants file the gateway reads") { add, list, rotate, revoke };
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
