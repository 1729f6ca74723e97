using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Reel.Tests;

/// <summary>The HTTP API of a running `reel serve`, called as the OpenAI SDK calls it.</summary>
public sealed class GatewayTests
{
    private sealed class Api(int port, string key) : IDisposable
    {
        private readonly HttpClient _http = new() { BaseAddress = new Uri($"http://127.0.0.1:{port}/v1/") };

        public async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, HttpContent? content = null)
        {
            using var request = new HttpRequestMessage(method, path) { Content = content };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            var response = await _http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var body = response.Content.Headers.ContentType?.MediaType == "application/json" ? JsonDocument.Parse(text).RootElement.Clone() : default;
            return (response.StatusCode, body, response);
        }

        public Task<byte[]> BytesAsync(string path) => SendAsync(HttpMethod.Get, path).ContinueWith(t => t.Result.Response.Content.ReadAsByteArrayAsync()).Unwrap();

        public void Dispose() => _http.Dispose();
    }

    [Fact]
    public async Task A_tenant_creates_polls_downloads_lists_and_deletes_a_video_that_other_tenants_cannot_see()
    {
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        var acmeKey = ReelProcess.Run("tenants", "add", "acme", "--file", tenants).Stdout.Trim();
        var globexKey = ReelProcess.Run("tenants", "add", "globex", "--file", tenants).Stdout.Trim();
        using var serve = ReelServer.Start(["serve", "--artifacts", TestModels.TempFolder(), "--state", TestModels.TempFolder(), "--tenants", tenants]);
        await serve.HealthyAsync();
        using var acme = new Api(serve.HttpPort, acmeKey);
        using var globex = new Api(serve.HttpPort, globexKey);

        // Multipart, as the SDK sends videos.create.
        var form = new MultipartFormDataContent
        {
            { new StringContent("a red ball moves left"), "prompt" }, { new StringContent("32x32"), "size" },
            { new StringContent("1"), "seconds" }, { new StringContent("7"), "seed" },
        };
        var created = await acme.SendAsync(HttpMethod.Post, "videos", form);
        Assert.Equal(HttpStatusCode.OK, created.Status);
        var id = created.Body.GetProperty("id").GetString()!;
        Assert.Equal("video", created.Body.GetProperty("object").GetString());
        Assert.Equal(7UL, created.Body.GetProperty("reel").GetProperty("seed").GetUInt64());

        JsonElement video = default;
        await ReelClient.Until(async () =>
        {
            video = (await acme.SendAsync(HttpMethod.Get, $"videos/{id}")).Body;
            return video.GetProperty("status").GetString() is "completed" or "failed";
        }, serve);
        Assert.Equal("completed", video.GetProperty("status").GetString());
        Assert.Equal(100, video.GetProperty("progress").GetInt32());
        Assert.True(video.GetProperty("completed_at").GetInt64() >= video.GetProperty("created_at").GetInt64());

        var mp4 = await acme.SendAsync(HttpMethod.Get, $"videos/{id}/content");
        Assert.Equal("video/mp4", mp4.Response.Content.Headers.ContentType?.MediaType);
        Assert.NotEmpty(await acme.BytesAsync($"videos/{id}/content?variant=thumbnail"));
        Assert.NotEmpty(await acme.BytesAsync($"videos/{id}/content?variant=spritesheet"));
        var list = (await acme.SendAsync(HttpMethod.Get, "videos?limit=10")).Body;
        Assert.Equal(id, list.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.False(list.GetProperty("has_more").GetBoolean());

        // Another tenant's id is a missing id everywhere.
        foreach (var (method, path) in new[] { (HttpMethod.Get, $"videos/{id}"), (HttpMethod.Get, $"videos/{id}/content"), (HttpMethod.Delete, $"videos/{id}") })
        {
            var other = await globex.SendAsync(method, path);
            Assert.Equal(HttpStatusCode.NotFound, other.Status);
            Assert.Equal("not_found", other.Body.GetProperty("error").GetProperty("code").GetString());
        }
        Assert.Equal(0, (await globex.SendAsync(HttpMethod.Get, "videos")).Body.GetProperty("data").GetArrayLength());

        var deleted = await acme.SendAsync(HttpMethod.Delete, $"videos/{id}");
        Assert.True(deleted.Body.GetProperty("deleted").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await acme.SendAsync(HttpMethod.Get, $"videos/{id}")).Status);
        Assert.Equal(0, (await acme.SendAsync(HttpMethod.Get, "videos")).Body.GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task Bad_keys_and_bad_requests_get_the_error_envelope_with_the_right_status()
    {
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        var key = ReelProcess.Run("tenants", "add", "acme", "--file", tenants).Stdout.Trim();
        using var serve = ReelServer.Start(["serve", "--artifacts", TestModels.TempFolder(), "--state", TestModels.TempFolder(), "--tenants", tenants]);
        await serve.HealthyAsync();
        using var acme = new Api(serve.HttpPort, key);
        using var stranger = new Api(serve.HttpPort, "reel_not-a-key");

        using (var web = new HttpClient())
        {
            var openApi = await web.GetStringAsync($"http://127.0.0.1:{serve.HttpPort}/openapi/v1.json");
            Assert.Contains("\"/v1/videos/{id}/content\"", openApi);
        }

        var unauthorized = await stranger.SendAsync(HttpMethod.Get, "videos");
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.Status);
        Assert.Equal("invalid_api_key", unauthorized.Body.GetProperty("error").GetProperty("code").GetString());

        foreach (var (json, param) in new[]
                 {
                     ("{}", "prompt"), ("{\"prompt\":\"x\",\"size\":\"big\"}", "size"), ("{\"prompt\":\"x\",\"size\":\"100x100\"}", "size"),
                     ("{\"prompt\":\"x\",\"seconds\":\"-1\"}", "seconds"), ("{\"prompt\":\"x\",\"seconds\":\"999\"}", "seconds"),
                     ("{\"prompt\":\"x\",\"model\":\"gpt-4\"}", "model"), ("[1]", null),
                 })
        {
            var bad = await acme.SendAsync(HttpMethod.Post, "videos", new StringContent(json, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
            Assert.Equal("invalid_request_error", bad.Body.GetProperty("error").GetProperty("type").GetString());
            if (param is not null) Assert.Equal(param, bad.Body.GetProperty("error").GetProperty("param").GetString());
            Assert.Equal("false", bad.Response.Headers.GetValues("x-should-retry").Single());
        }
        // The SDK's standard values map onto what the `test` model serves: landscape 1280x720 to its landscape size.
        var models = (await acme.SendAsync(HttpMethod.Get, "models")).Body.GetProperty("data");
        Assert.Equal("reel-test", models[0].GetProperty("id").GetString());
        var mapped = await acme.SendAsync(HttpMethod.Post, "videos", new StringContent(
            "{\"prompt\":\"a red ball\",\"model\":\"sora-2\",\"size\":\"1280x720\",\"seconds\":\"4\"}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, mapped.Status);
        var id = mapped.Body.GetProperty("id").GetString()!;
        JsonElement started = default;
        await ReelClient.Until(async () => (started = (await acme.SendAsync(HttpMethod.Get, $"videos/{id}")).Body).GetProperty("status").GetString() != "queued", serve);
        Assert.Equal("48x32", started.GetProperty("size").GetString());
        Assert.Equal("reel-test", started.GetProperty("model").GetString());
        Assert.StartsWith("4", started.GetProperty("seconds").GetString());

        var characters = await acme.SendAsync(HttpMethod.Post, "videos/characters", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, characters.Status);
        Assert.Equal("unsupported", characters.Body.GetProperty("error").GetProperty("code").GetString());
        var fileId = await acme.SendAsync(HttpMethod.Post, "videos", new MultipartFormDataContent
        {
            { new StringContent("x"), "prompt" }, { new StringContent("file_123"), "input_reference[file_id]" },
        });
        Assert.Equal("input_reference", fileId.Body.GetProperty("error").GetProperty("param").GetString());
        var tooLarge = await acme.SendAsync(HttpMethod.Post, "videos", new ByteArrayContent(new byte[26 * 1024 * 1024])
        {
            Headers = { ContentType = new MediaTypeHeaderValue("application/json") },
        });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.Status);
        var brokenForm = await acme.SendAsync(HttpMethod.Post, "videos", new StringContent("--x\r\nbroken", Encoding.UTF8, "multipart/form-data"));
        Assert.Equal(HttpStatusCode.BadRequest, brokenForm.Status);

        var malformed = await acme.SendAsync(HttpMethod.Post, "videos", new StringContent("{not json", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.Equal(HttpStatusCode.NotFound, (await acme.SendAsync(HttpMethod.Get, "videos/video_nope")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await acme.SendAsync(HttpMethod.Get, "videos?limit=0")).Status);
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
        using var acme = new Api(gateway.HttpPort, key);

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
