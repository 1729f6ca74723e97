using Microsoft.Extensions.Logging.Abstractions;
using Reel.Gateway;

namespace Reel.Tests;

public sealed class TenantsTests
{
    private static string TenantsPath() => Path.Combine(TestModels.TempFolder(), "tenants.json");

    private static string Add(string path, string name, params string[] options)
    {
        var result = ReelProcess.Run(["tenants", "add", name, "--file", path, .. options]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return result.Stdout.Trim();
    }

    private static TenantDirectory Directory(string path) => new(path, TimeSpan.FromSeconds(1), NullLogger<TenantDirectory>.Instance);

    [Fact]
    public void Add_prints_a_key_once_and_stores_only_its_hash()
    {
        var path = TenantsPath();
        var key = Add(path, "acme", "--pool", "alpha");

        Assert.StartsWith(ApiKeys.Prefix, key);
        var stored = File.ReadAllText(path);
        Assert.DoesNotContain(key, stored);
        Assert.Contains(ApiKeys.Hash(key), stored);
        var tenant = Directory(path).Authenticate(key);
        Assert.Equal("acme", tenant!.Name);
        Assert.Equal("alpha", tenant.Pool);
        Assert.DoesNotContain(key, ReelProcess.Run("tenants", "list", "--file", path).Stdout);
    }

    [Fact]
    public void Rotation_keeps_both_keys_live_until_the_old_one_is_revoked_and_the_directory_reloads()
    {
        var path = TenantsPath();
        var old = Add(path, "acme");
        var directory = Directory(path);
        var rotated = ReelProcess.Run("tenants", "rotate", "acme", "--file", path);
        Assert.Equal(0, rotated.ExitCode);
        var fresh = rotated.Stdout.Trim();
        Touch(path);
        directory.Refresh();
        Assert.Equal("acme", directory.Authenticate(old)?.Name);
        Assert.Equal("acme", directory.Authenticate(fresh)?.Name);

        var oldId = "k_" + ApiKeys.Hash(old)[..8];
        Assert.Equal(0, ReelProcess.Run("tenants", "revoke", "acme", "--file", path, "--key", oldId).ExitCode);
        Touch(path);
        directory.Refresh();
        Assert.Null(directory.Authenticate(old));
        Assert.Equal("acme", directory.Authenticate(fresh)?.Name);
    }

    [Fact]
    public void A_malformed_file_keeps_the_last_good_tenants()
    {
        var path = TenantsPath();
        var key = Add(path, "acme");
        var directory = Directory(path);
        File.WriteAllText(path, "{ not json");
        Touch(path);
        directory.Refresh();
        Assert.Equal("acme", directory.Authenticate(key)?.Name);
    }

    [Theory]
    [InlineData("bad/name")]
    [InlineData("acme", "--pool", "Not_A_Pool")]
    [InlineData("acme", "--weight", "0")]
    public void Bad_tenant_settings_end_with_a_message_and_exit_1(params string[] args)
    {
        var path = TenantsPath();
        var result = ReelProcess.Run(["tenants", "add", .. args, "--file", path]);
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("reel: ", result.Stderr);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Unknown_keys_and_empty_keys_belong_to_nobody()
    {
        var path = TenantsPath();
        Add(path, "acme");
        var directory = Directory(path);
        Assert.Null(directory.Authenticate(ApiKeys.Create().Key));
        Assert.Null(directory.Authenticate(""));
        Assert.Null(directory.Authenticate(null));
    }

    [Theory]
    [InlineData("http://10.0.0.5/hook")]
    [InlineData("http://localhost:8080/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("http://[::1]/hook")]
    [InlineData("https://[::ffff:192.168.1.1]/hook")]
    public void A_webhook_to_a_private_address_is_refused_unless_private_delivery_is_allowed(string url)
    {
        var path = TenantsPath();
        new TenantsFile().With(new Tenant { Name = "acme" }).Write(path);

        var refused = ReelProcess.Run("tenants", "webhook", "acme", "--url", url, "--file", path);
        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith("reel: ", refused.Stderr);
        Assert.Contains("not a public address", refused.Stderr);
        Assert.Contains("--allow-private", refused.Stderr);
        Assert.Equal("", refused.Stdout);
        Assert.Null(TenantsFile.Read(path).Find("acme")!.WebhookUrl);

        var allowed = ReelProcess.Run("tenants", "webhook", "acme", "--url", url, "--allow-private", "--file", path);
        Assert.True(allowed.ExitCode == 0, allowed.Stderr);
        Assert.Equal(url, TenantsFile.Read(path).Find("acme")!.WebhookUrl);
    }

    [Fact]
    public void A_webhook_to_a_public_address_is_set()
    {
        var path = TenantsPath();
        new TenantsFile().With(new Tenant { Name = "acme" }).Write(path);
        var set = ReelProcess.Run("tenants", "webhook", "acme", "--url", "https://93.184.215.14/reel", "--file", path);
        Assert.True(set.ExitCode == 0, set.Stderr);
        Assert.StartsWith("whsec_", set.Stdout.Trim());
        Assert.Equal("https://93.184.215.14/reel", TenantsFile.Read(path).Find("acme")!.WebhookUrl);
    }

    /// <summary>A rewrite within the file system's timestamp resolution must still count as a change.</summary>
    private static void Touch(string path) => File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(Random.Shared.Next(1, 1000)));
}
