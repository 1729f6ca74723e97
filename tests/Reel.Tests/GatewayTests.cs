using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Reel.Tests;

/// <summary>
/// The HTTP API of running processes: <c>reel serve</c> driven by the official <c>openai</c> npm SDK, and
/// <c>reel gateway</c> alone against a Redis-clustered model silo. Every field and error is covered in-process by
/// <see cref="GatewayApiTests"/>.
/// </summary>
public sealed class GatewayTests
{
    [Fact]
    public async Task The_official_openai_SDK_drives_a_running_reel_serve()
    {
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        var acmeKey = ReelProcess.AddTenant(tenants, "acme");
        var globexKey = ReelProcess.AddTenant(tenants, "globex");
        using var serve = ReelServer.Serve(tenants);
        await serve.HealthyAsync();
        using var acme = serve.Api(acmeKey);
        await serve.ServesModelAsync(acme);

        var script = Path.Combine(TestModels.RepositoryRoot(), "tests", "conformance");
        var start = new ProcessStartInfo("node", ["videos.mjs"]) { WorkingDirectory = script, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["OPENAI_BASE_URL"] = $"http://127.0.0.1:{serve.HttpPort}/v1";
        start.Environment["OPENAI_API_KEY"] = acmeKey;
        start.Environment["OTHER_API_KEY"] = globexKey;
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await node.WaitForExitAsync(timeout.Token);
        Assert.True(node.ExitCode == 0, $"{await stdout}\n{await stderr}");
        var seen = JsonDocument.Parse((await stdout).Trim().Split('\n')[^1]).RootElement;
        Assert.True(seen.GetProperty("ok").GetBoolean());
        // 1280x720 went to the test model's landscape size; 4 s is one of its durations.
        Assert.Equal("48x32", seen.GetProperty("size").GetString());
        Assert.Equal("4.125", seen.GetProperty("seconds").GetString());
    }

    [Fact]
    public async Task Two_standalone_gateways_serve_one_Redis_cluster_and_share_the_tenants_counters()
    {
        using var redis = new RedisFixture();
        var (artifacts, tenants) = (TestModels.TempFolder(), Path.Combine(TestModels.TempFolder(), "tenants.json"));
        var key = ReelProcess.AddTenant(tenants, "acme", "--max-active", "1", "--seconds-per-day", "3");
        using var silo = ReelServer.Start(["silo", "--model", "--redis", redis.ConnectionString, "--advertise-ip", "127.0.0.1", "--artifacts", artifacts], slowSteps: true);
        using var one = ReelServer.Start(["gateway", "--redis", redis.ConnectionString, "--artifacts", artifacts, "--tenants", tenants]);
        using var two = ReelServer.Start(["gateway", "--redis", redis.ConnectionString, "--artifacts", artifacts, "--tenants", tenants]);
        await silo.HealthyAsync();
        await one.HealthyAsync("health");
        await two.HealthyAsync("health");
        using var viaOne = one.Api(key);
        using var viaTwo = two.Api(key);
        await one.ServesModelAsync(viaOne);
        await two.ServesModelAsync(viaTwo);

        var created = await viaOne.SendAsync(HttpMethod.Post, "videos", Json("{\"prompt\":\"a red ball\",\"size\":\"32x32\",\"seconds\":\"2\"}"));
        Assert.Equal(HttpStatusCode.OK, created.Status);
        var id = created.Body.GetProperty("id").GetString()!;
        // The other replica knows the tenant's one active video: the counter lives in the cluster.
        var busy = await viaTwo.SendAsync(HttpMethod.Post, "videos", Json("{\"prompt\":\"another\",\"seconds\":\"1\"}"));
        Assert.Equal(HttpStatusCode.TooManyRequests, busy.Status);
        Assert.Equal("too_many_active_videos", busy.Body.GetProperty("error").GetProperty("code").GetString());
        Assert.True(busy.Response.Headers.RetryAfter is not null);

        await ReelClient.Until(async () => (await viaTwo.SendAsync(HttpMethod.Get, $"videos/{id}")).Body.GetProperty("status").GetString() == "completed", two);
        Assert.NotEmpty(await viaTwo.BytesAsync($"videos/{id}/content"));
        // 2 of the 3 seconds a day were asked for through the first gateway: 2 more through the second are too many.
        var daily = await viaTwo.SendAsync(HttpMethod.Post, "videos", Json("{\"prompt\":\"more\",\"seconds\":\"2\"}"));
        Assert.Equal(HttpStatusCode.TooManyRequests, daily.Status);
        Assert.Equal("daily_seconds_exceeded", daily.Body.GetProperty("error").GetProperty("code").GetString());

        var usage = ReelProcess.Run("tenants", "usage", "acme", "--redis", redis.ConnectionString, "--days", "1");
        Assert.Equal(0, usage.ExitCode);
        var today = usage.Stdout.Trim().Split('\n')[^1].Split('\t');
        Assert.Equal([DateTime.UtcNow.ToString("yyyy-MM-dd"), "1", "2.125"], today[..3]);
        Assert.True(double.Parse(today[3], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal("2", today[4]);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
