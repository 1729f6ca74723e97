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
        var acmeKey = ReelProcess.Run("tenants", "add", "acme", "--file", tenants).Stdout.Trim();
        var globexKey = ReelProcess.Run("tenants", "add", "globex", "--file", tenants).Stdout.Trim();
        using var serve = ReelServer.Start(["serve", "--artifacts", TestModels.TempFolder(), "--state", TestModels.TempFolder(), "--tenants", tenants]);
        await serve.HealthyAsync();
        // The SDK's sizes map onto the served model once the model silo's first load report is in.
        using var acme = new Api(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{serve.HttpPort}") }, acmeKey);
        await ReelClient.Until(async () => (await acme.SendAsync(HttpMethod.Get, "models")).Body.GetProperty("data").GetArrayLength() == 1, serve);

        var script = Path.Combine(RepositoryRoot(), "tests", "conformance");
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

    private static string RepositoryRoot()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Orleans.sln"))) folder = folder.Parent;
        return folder?.FullName ?? throw new InvalidOperationException("The tests do not run inside the repository.");
    }

    [Fact]
    public async Task A_standalone_gateway_serves_a_video_made_by_a_Redis_clustered_model_silo()
    {
        using var redis = new RedisFixture();
        var (artifacts, tenants) = (TestModels.TempFolder(), Path.Combine(TestModels.TempFolder(), "tenants.json"));
        var key = ReelProcess.Run("tenants", "add", "acme", "--file", tenants).Stdout.Trim();
        using var silo = ReelServer.Start(["silo", "--model", "--redis", redis.ConnectionString, "--advertise-ip", "127.0.0.1", "--artifacts", artifacts]);
        using var gateway = ReelServer.Start(["gateway", "--redis", redis.ConnectionString, "--artifacts", artifacts, "--tenants", tenants]);
        await silo.HealthyAsync();
        await gateway.HealthyAsync("health");
        using var acme = new Api(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.HttpPort}") }, key);

        JsonElement created = default;
        // Until the gateway's client has seen the silo's first load report, the pool may not know the model yet.
        await ReelClient.Until(async () =>
        {
            var response = await acme.SendAsync(HttpMethod.Post, "videos", new StringContent("{\"prompt\":\"a red ball\",\"size\":\"32x32\",\"seconds\":\"1\"}", Encoding.UTF8, "application/json"));
            created = response.Body;
            return response.Status == HttpStatusCode.OK;
        }, gateway);
        var id = created.GetProperty("id").GetString()!;
        await ReelClient.Until(async () => (await acme.SendAsync(HttpMethod.Get, $"videos/{id}")).Body.GetProperty("status").GetString() == "completed", gateway);
        Assert.NotEmpty(await acme.BytesAsync($"videos/{id}/content"));
    }
}
