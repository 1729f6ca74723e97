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

    [Fact]
    public async Task Webhook_events_left_pending_when_reel_serve_is_killed_are_delivered_after_it_restarts_without_any_request()
    {
        var (artifacts, state, tenants) = (TestModels.TempFolder(), TestModels.TempFolder(), Path.Combine(TestModels.TempFolder(), "tenants.json"));
        var key = ReelProcess.AddTenant(tenants, "hooked");
        // Nothing listens there yet: every attempt before the restart fails and the event stays in the outbox.
        var receiverPort = AzuriteFixture.FreePort();
        Assert.Equal(0, ReelProcess.Run("tenants", "webhook", "hooked", "--file", tenants, "--url", $"http://127.0.0.1:{receiverPort}/hook", "--allow-private").ExitCode);
        string[] args = ["serve", "--artifacts", artifacts, "--state", state, "--tenants", tenants];
        var privateDelivery = new Dictionary<string, string> { ["Reel__WebhooksToPrivateAddresses"] = "true" };
        string id;
        using (var first = ReelServer.Start(args, environment: privateDelivery))
        {
            await first.HealthyAsync();
            using var api = first.Api(key);
            await first.ServesModelAsync(api);
            id = (await api.SendAsync(HttpMethod.Post, "videos", Json("{\"prompt\":\"a red ball\",\"size\":\"32x32\",\"seconds\":\"1\"}"))).Body.GetProperty("id").GetString()!;
            await ReelClient.Until(async () => (await api.SendAsync(HttpMethod.Get, $"videos/{id}")).Body.GetProperty("status").GetString() == "completed", first);
            first.Kill();
        }

        var (receiver, seen) = await GatewayApiTests.ReceiverAsync(failures: 0, receiverPort);
        await using var _ = receiver;
        using var second = ReelServer.Start(args, environment: privateDelivery);
        await ReelClient.Until(() => Task.FromResult(!seen.IsEmpty), second);
        var body = JsonDocument.Parse(seen.First().Body).RootElement;
        Assert.Equal("video.completed", body.GetProperty("type").GetString());
        Assert.Equal(id, body.GetProperty("data").GetProperty("id").GetString());
    }

    /// <summary>
    /// The rollout an operator does: a pool's silos on weights A make videos, new silos on weights B join, the A silos
    /// stop. Every old video is still read, listed, downloaded, remixed (on B), deleted and expired.
    /// </summary>
    [Fact]
    public async Task Videos_of_retired_weights_stay_readable_listable_downloadable_remixable_deletable_and_expire()
    {
        using var redis = new RedisFixture();
        var (artifacts, tenants) = (TestModels.TempFolder(), Path.Combine(TestModels.TempFolder(), "tenants.json"));
        var key = ReelProcess.AddTenant(tenants, "acme", "--retention-hours", $"{40.0 / 3600}");
        var (weightsA, weightsB) = (TestModels.TempFolder(), TestModels.TempFolder());
        using (var a = TestModels.Active(1)) a.Save(weightsA);
        using (var b = TestModels.Active(2)) b.Save(weightsB);
        var sweepEverySecond = new Dictionary<string, string> { ["REEL__SWEEPPERIOD"] = "00:00:01" };
        string[] Silo(string weights) => ["silo", "--model", "--redis", redis.ConnectionString, "--advertise-ip", "127.0.0.1", "--artifacts", artifacts, "--weights", weights];

        using var siloA = ReelServer.Start(Silo(weightsA), environment: sweepEverySecond);
        using var gateway = ReelServer.Start(["gateway", "--redis", redis.ConnectionString, "--artifacts", artifacts, "--tenants", tenants]);
        await siloA.HealthyAsync();
        await gateway.HealthyAsync("health");
        using var api = gateway.Api(key);
        await gateway.ServesModelAsync(api);
        var old = new List<string>();
        foreach (var prompt in new[] { "a red ball", "a blue box" })
            old.Add((await api.CompletedAsync(api.PostJsonAsync("videos", new { prompt, size = "32x32", seconds = "1" }))).GetProperty("id").GetString()!);

        // The rollout: B joins and is ready for the chart's minReadySeconds (the gateway learns of it), A drains and
        // stops. Nothing serves weights A any more.
        using var siloB = ReelServer.Start(Silo(weightsB), environment: sweepEverySecond);
        await siloB.HealthyAsync();
        await Task.Delay(2 * Reel.Hosting.ReelHost.GatewayListRefreshPeriod);
        siloA.Terminate();
        await ReelClient.Until(() => Task.FromResult(siloA.HasExited), siloB);

        foreach (var id in old)
        {
            var video = await api.SendAsync(HttpMethod.Get, $"videos/{id}");
            Assert.True(video.Status == HttpStatusCode.OK, video.Body.ToString());
            Assert.Equal("completed", video.Body.GetProperty("status").GetString());
            var mp4 = await api.BytesAsync($"videos/{id}/content");
            Assert.Equal("ftyp", Encoding.ASCII.GetString(mp4, 4, 4));
        }
        var listed = (await api.SendAsync(HttpMethod.Get, "videos?limit=100")).Body.GetProperty("data").EnumerateArray().Select(v => v.GetProperty("id").GetString()).ToList();
        Assert.Contains(old[0], listed);
        Assert.Contains(old[1], listed);

        // A remix of an old video is made on the new weights.
        var remix = await api.CompletedAsync(api.PostJsonAsync($"videos/{old[0]}/remix", new { prompt = "a green ball" }));
        Assert.Equal(old[0], remix.GetProperty("remixed_from_video_id").GetString());
        Assert.Contains($":{siloB.SiloPort}:", remix.GetProperty("reel").GetProperty("silo").GetString());

        var deleted = await api.SendAsync(HttpMethod.Delete, $"videos/{old[1]}");
        Assert.True(deleted.Status == HttpStatusCode.OK, deleted.Body.ToString());
        Assert.Equal(HttpStatusCode.NotFound, (await api.SendAsync(HttpMethod.Get, $"videos/{old[1]}")).Status);

        // The other one expires with the tenant's retention, swept though its weights are gone.
        await ReelClient.Until(async () => (await api.SendAsync(HttpMethod.Get, $"videos/{old[0]}")).Status == HttpStatusCode.NotFound, siloB);
        listed = (await api.SendAsync(HttpMethod.Get, "videos?limit=100")).Body.GetProperty("data").EnumerateArray().Select(v => v.GetProperty("id").GetString()).ToList();
        Assert.DoesNotContain(old[0], listed);
        Assert.DoesNotContain(old[1], listed);
        var folder = Path.Combine(artifacts, "acme", "sessions", TestModels.SessionOf(old[0]));
        Assert.False(Directory.Exists(folder) && Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any());
    }

    /// <summary>
    /// Every mode through <c>reel generate</c> and through the HTTP API of <c>reel serve</c> — the same fresh test
    /// weights, request, seed and thread count — gives the same frames: one request compiler serves both.
    /// </summary>
    [Fact]
    public async Task The_cli_and_the_api_make_the_same_frames_for_every_mode()
    {
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        var key = ReelProcess.AddTenant(tenants, "acme");
        using var serve = ReelServer.Serve(tenants);
        await serve.HealthyAsync();
        using var api = serve.Api(key);
        await serve.ServesModelAsync(api);
        var folder = TestModels.TempFolder();
        string In(string name) => Path.Combine(folder, name);
        async Task<string> Download(string id, string name)
        {
            await File.WriteAllBytesAsync(In(name), await api.BytesAsync($"videos/{id}/content"));
            return In(name);
        }
        async Task<string> Api(string name, Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> create) =>
            await Download((await api.CompletedAsync(create)).GetProperty("id").GetString()!, name);
        string Cli(string name, params string[] args)
        {
            var run = ReelProcess.Run(["generate", .. args, "-o", In(name), "--config", "test", "--threads", "1"]);
            Assert.True(run.ExitCode == 0, run.Stderr);
            return In(name);
        }
        MultipartFormDataContent Upload(string file, string field, string type, params (string Name, string Value)[] fields)
        {
            var form = GatewayApiTests.Form(fields);
            form.Add(GatewayApiTests.FileContent(File.ReadAllBytes(file), type), field, Path.GetFileName(file));
            return form;
        }
        var image = In("start.png");
        await File.WriteAllBytesAsync(image, await GatewayApiTests.PngAsync());
        var a = await Api("a.mp4", api.PostJsonAsync("videos", new { prompt = "a red ball", size = "32x32", seconds = "1", seed = "5" }));
        var b = await Api("b.mp4", api.PostJsonAsync("videos", new { prompt = "a blue box", size = "32x32", seconds = "1", seed = "6" }));
        var (idA, idB) = ((await api.SendAsync(HttpMethod.Get, "videos?order=asc")).Body.GetProperty("data")[0].GetProperty("id").GetString()!,
            (await api.SendAsync(HttpMethod.Get, "videos?order=asc")).Body.GetProperty("data")[1].GetProperty("id").GetString()!);

        var pairs = new (string Mode, string Cli, string Api)[]
        {
            ("text", Cli("text.mp4", "a red ball", "--size", "32x32", "--seconds", "1", "--seed", "5"), a),
            ("image", Cli("image.mp4", "it rolls", "--image", image, "--seconds", "1", "--seed", "7"),
                await Api("image-api.mp4", api.SendAsync(HttpMethod.Post, "videos", Upload(image, "input_reference", "image/png", ("prompt", "it rolls"), ("seconds", "1"), ("seed", "7"))))),
            ("loop", Cli("loop.mp4", "round it goes", "--loop", "--size", "32x32", "--seconds", "2", "--seed", "8"),
                await Api("loop-api.mp4", api.PostJsonAsync("videos", new { prompt = "round it goes", loop = true, size = "32x32", seconds = "2", seed = "8" }))),
            ("extend", Cli("extend.mp4", "and on", "--extend", a, "--seconds", "1", "--seed", "9"),
                await Api("extend-api.mp4", api.SendAsync(HttpMethod.Post, "videos/extensions", Upload(a, "video", "video/mp4", ("prompt", "and on"), ("seconds", "1"), ("seed", "9"))))),
            ("extend backward", Cli("before.mp4", "before that", "--extend", a, "--backward", "--seconds", "1", "--seed", "10"),
                await Api("before-api.mp4", api.SendAsync(HttpMethod.Post, "videos/extensions",
                    Upload(a, "video", "video/mp4", ("prompt", "before that"), ("seconds", "1"), ("seed", "10"), ("direction", "backward"))))),
            ("connect", Cli("connect.mp4", "a bridge", "--connect", a, b, "--seconds", "1", "--seed", "11"),
                await Api("connect-api.mp4", api.PostJsonAsync("videos", new { prompt = "a bridge", connect = new[] { idA, idB }, seconds = "1", seed = "11" }))),
            ("edit", Cli("edit.mp4", "now green", "--edit", a, "--strength", "0.5", "--seed", "12"),
                await Api("edit-api.mp4", api.SendAsync(HttpMethod.Post, "videos/edits", Upload(a, "video", "video/mp4", ("prompt", "now green"), ("strength", "0.5"), ("seed", "12"))))),
        };
        foreach (var (mode, cli, viaApi) in pairs)
        {
            var (mine, theirs) = (await Reel.Media.MediaReader.ReadVideoAsync(cli, 32, 32, 8), await Reel.Media.MediaReader.ReadVideoAsync(viaApi, 32, 32, 8));
            Assert.True(mine.Count == theirs.Count, $"{mode}: {mine.Count} frames from the CLI, {theirs.Count} from the API");
            Assert.True(mine.Zip(theirs).All(p => p.First.Pixels.AsSpan().SequenceEqual(p.Second.Pixels)), $"{mode}: the frames differ");
        }
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
