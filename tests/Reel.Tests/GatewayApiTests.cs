using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Trace;
using Reel.Abstractions;
using Reel.Gateway;
using Reel.Hosting;
using Reel.Model;
using Reel.Storage;
using static TorchSharp.torch;

namespace Reel.Tests;

/// <summary>
/// The gateway's own app builder (<c>AddReelGateway</c>, <c>MapReelGateway</c>) on ASP.NET Core's TestServer, co-hosted
/// with one model silo of the <c>test</c> configuration: state in memory, artifacts and tenants in folders.
/// </summary>
public sealed class GatewayApiFixture : IAsyncLifetime
{
    public string Tenants { get; } = Path.Combine(TestModels.TempFolder(), "tenants.json");
    public string Artifacts { get; } = TestModels.TempFolder();
    public string AcmeKey { get; private set; } = "";
    public string GlobexKey { get; private set; } = "";
    public WebApplication App { get; private set; } = null!;

    /// <summary>Every span the gateway, the silo and the model host ended, in memory.</summary>
    public List<System.Diagnostics.Activity> Spans { get; } = [];

    /// <summary>A web server on 127.0.0.1 the gateway may fetch images from (its host is allow-listed).</summary>
    public WebApplication ImageHost { get; private set; } = null!;

    public string ImageHostUrl => ImageHost.Urls.First();

    public async Task InitializeAsync()
    {
        set_num_threads(1);
        (AcmeKey, var acme) = ApiKeys.Create();
        (GlobexKey, var globex) = ApiKeys.Create();
        new TenantsFile().With(new Tenant { Name = "acme", Keys = [acme] }).With(new Tenant { Name = "globex", Keys = [globex] }).Write(Tenants);

        var image = await GatewayApiTests.PngAsync();
        var images = WebApplication.CreateSlimBuilder();
        images.WebHost.UseUrls("http://127.0.0.1:0");
        ImageHost = images.Build();
        ImageHost.MapGet("/red.png", () => Results.File(image, "image/png"));
        ImageHost.MapGet("/text.png", () => Results.Text("not a picture"));
        await ImageHost.StartAsync();

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        var options = new ReelSiloOptions
        {
            Model = true, Config = "test", Threads = 1, MaxSessions = 2, Artifacts = Artifacts, Tenants = Tenants,
            ImageUrlHosts = ["127.0.0.1"], SweepPeriod = TimeSpan.FromSeconds(1), WebhooksToPrivateAddresses = true,
        }.SlowStepsForTests(TimeSpan.FromMilliseconds(40));
        builder.UseOrleans(silo => silo.UseLocalhostClustering(AzuriteFixture.FreePort(), AzuriteFixture.FreePort()).AddActivityPropagation().AddReel(options));
        builder.Services.AddReelGateway(options.GatewayOptions);
        builder.Services.AddReelTelemetry();
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(Spans));
        App = builder.Build();
        App.MapReelGateway();
        await App.StartAsync();
        // Requests are validated against what the pool serves: wait for the model silo's first load report.
        var sessions = App.Services.GetRequiredService<ReelSessions>();
        await ReelClusterFixture.Until(async () => await sessions.ServedAsync("default") is not null, TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        await ImageHost.DisposeAsync();
        set_num_threads(2);
    }

    public Api Client(string key) => new(App.GetTestClient(), key);

    /// <summary>Adds a tenant to the tenants file and waits until the gateway has reloaded it; returns its client.</summary>
    public async Task<Api> AddTenantAsync(Tenant tenant)
    {
        var (key, stored) = ApiKeys.Create();
        TenantsFile.Read(Tenants).With(tenant with { Keys = [stored] }).Write(Tenants);
        var api = Client(key);
        await ReelClusterFixture.Until(async () => (await api.SendAsync(HttpMethod.Get, "models")).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(10));
        return api;
    }
}

/// <summary>An HTTP client of the API with a tenant's key, reading answers as JSON where they are JSON.</summary>
public sealed class Api(HttpClient http, string key) : IDisposable
{
    public async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, "/v1/" + path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var body = response.Content.Headers.ContentType?.MediaType == "application/json" ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return (response.StatusCode, body, response);
    }

    public Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> PostJsonAsync(string path, object body) =>
        SendAsync(HttpMethod.Post, path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));

    public async Task<byte[]> BytesAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/" + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync();
    }

    /// <summary>Creates a video and waits until it ends; returns the final video object.</summary>
    public async Task<JsonElement> CompletedAsync(Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> create)
    {
        var created = await create;
        Assert.True(created.Status == HttpStatusCode.OK, created.Body.ToString());
        return await FinishedAsync(created.Body.GetProperty("id").GetString()!);
    }

    public async Task<JsonElement> FinishedAsync(string id)
    {
        JsonElement video = default;
        await ReelClusterFixture.Until(async () =>
        {
            video = (await SendAsync(HttpMethod.Get, $"videos/{id}")).Body;
            return video.GetProperty("status").GetString() is "completed" or "failed";
        }, TimeSpan.FromMinutes(2));
        Assert.True(video.GetProperty("status").GetString() == "completed", video.ToString());
        return video;
    }

    public void Dispose() => http.Dispose();
}

public sealed partial class GatewayApiTests(GatewayApiFixture fixture) : IClassFixture<GatewayApiFixture>
{
    /// <summary>A 48×36 red picture as PNG bytes, made by ffmpeg.</summary>
    public static async Task<byte[]> PngAsync() => await File.ReadAllBytesAsync(await MediaAsync("red.png", "color=c=red:s=48x36", "-frames:v", "1"));

    private static async Task<string> MediaAsync(string name, string source, params string[] args)
    {
        var path = Path.Combine(TestModels.TempFolder(), name);
        using var ffmpeg = System.Diagnostics.Process.Start("ffmpeg", ["-loglevel", "error", "-y", "-f", "lavfi", "-i", source, .. args, path])!;
        await ffmpeg.WaitForExitAsync();
        Assert.Equal(0, ffmpeg.ExitCode);
        return path;
    }

    internal static MultipartFormDataContent Form(params (string Name, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in fields) form.Add(new StringContent(value), name);
        return form;
    }

    internal static ByteArrayContent FileContent(byte[] bytes, string type)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        return content;
    }

    private static string Id(JsonElement video) => video.GetProperty("id").GetString()!;

    private Tensor Latents(string tenant, string videoId)
    {
        var video = fixture.App.Services.GetRequiredService<ReelSessions>().GetAsync(tenant, videoId).GetAwaiter().GetResult();
        Assert.NotNull(video);
        return LatentsFile.FromBytes(File.ReadAllBytes(Path.Combine(fixture.Artifacts, SessionArtifacts.Latents(video.Key).Value)));
    }

    [Fact]
    public async Task Create_by_JSON_or_multipart_reports_every_field_and_serves_all_three_variants()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var json = await acme.CompletedAsync(acme.PostJsonAsync("videos",
            new { prompt = "a red ball moves left", model = "sora-2", seconds = "4", size = "720x1280", seed = 11, steps = 3, guidance = 2.5 }));
        Assert.Equal("video", json.GetProperty("object").GetString());
        Assert.Equal("reel-test", json.GetProperty("model").GetString());
        // The SDK's 720x1280 maps to the served size with the nearest aspect ratio; 4 s is a listed duration.
        Assert.Equal("32x48", json.GetProperty("size").GetString());
        Assert.Equal("4.125", json.GetProperty("seconds").GetString());
        Assert.Equal(100, json.GetProperty("progress").GetInt32());
        Assert.True(json.GetProperty("completed_at").GetInt64() >= json.GetProperty("created_at").GetInt64());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("remixed_from_video_id").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("error").ValueKind);
        var reel = json.GetProperty("reel");
        Assert.Equal(11UL, reel.GetProperty("seed").GetUInt64());
        Assert.Contains("red", reel.GetProperty("caption").GetString());
        Assert.Equal(reel.GetProperty("chunks").GetInt32(), reel.GetProperty("chunk").GetInt32());
        Assert.True(reel.GetProperty("chunks").GetInt32() > 1);
        Assert.StartsWith("S127.0.0.1", reel.GetProperty("silo").GetString());

        var multipart = await acme.CompletedAsync(acme.SendAsync(HttpMethod.Post, "videos", Form(("prompt", "a blue square"), ("seconds", "12"), ("size", "48x32"))));
        Assert.Equal("48x32", multipart.GetProperty("size").GetString());
        Assert.Equal("4.125", multipart.GetProperty("seconds").GetString()); // 12, an SDK duration, maps to the nearest listed (4)

        var mp4 = await acme.BytesAsync($"videos/{Id(multipart)}/content");
        Assert.Equal("ftyp", Encoding.ASCII.GetString(mp4, 4, 4));
        var webp = await acme.BytesAsync($"videos/{Id(multipart)}/content?variant=thumbnail");
        Assert.Equal("WEBP", Encoding.ASCII.GetString(webp, 8, 4));
        var jpeg = await acme.BytesAsync($"videos/{Id(multipart)}/content?variant=spritesheet");
        Assert.Equal([0xFF, 0xD8], jpeg[..2]);
        var bad = await acme.SendAsync(HttpMethod.Get, $"videos/{Id(multipart)}/content?variant=gif");
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Equal("variant", bad.Body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task A_create_without_seconds_or_size_reads_the_models_name_and_defaults_until_the_video_is_planned()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        // Both of the silo's slots busy, so the video stays queued while it is read back.
        var blockers = new List<string>();
        for (var i = 0; i < 2; i++) blockers.Add(Id((await acme.PostJsonAsync("videos", new { prompt = "a slow one", seconds = "4", steps = 50 })).Body));

        var created = await acme.PostJsonAsync("videos", new { prompt = "a red ball moves left" });
        Assert.Equal(HttpStatusCode.OK, created.Status);
        var read = (await acme.SendAsync(HttpMethod.Get, $"videos/{Id(created.Body)}")).Body;
        Assert.Equal("queued", read.GetProperty("status").GetString());
        // The model's one name, the request compiler's default length (2 s) and the test model's default size, from the first answer on.
        foreach (var video in new[] { created.Body, read })
        {
            Assert.Equal("reel-test", video.GetProperty("model").GetString());
            Assert.Equal("2", video.GetProperty("seconds").GetString());
            Assert.Equal("32x32", video.GetProperty("size").GetString());
        }

        foreach (var blocker in blockers) await acme.SendAsync(HttpMethod.Post, $"videos/{blocker}/cancel");
        // Made: 2 s at 8 fps is 17 frames (1 + k·4), 2.125 s.
        var done = await acme.FinishedAsync(Id(created.Body));
        Assert.Equal("2.125", done.GetProperty("seconds").GetString());
        Assert.Equal("32x32", done.GetProperty("size").GetString());
    }

    [Fact]
    public async Task Models_lists_the_served_model_with_its_sizes_and_durations()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var models = await acme.SendAsync(HttpMethod.Get, "models");
        var model = Assert.Single(models.Body.GetProperty("data").EnumerateArray());
        Assert.Equal("reel-test", model.GetProperty("id").GetString());
        Assert.Equal(["32x32", "48x32", "32x48"], model.GetProperty("sizes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal([1.0, 2.0, 4.0], model.GetProperty("seconds").EnumerateArray().Select(s => s.GetDouble()));
    }

    [Fact]
    public async Task List_pages_in_both_orders_and_shows_only_the_tenants_videos()
    {
        using var lister = await fixture.AddTenantAsync(new Tenant { Name = "lister" });
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
            ids.Add(Id((await lister.PostJsonAsync("videos", new { prompt = $"ball {i}", seconds = "1" })).Body));

        var first = (await lister.SendAsync(HttpMethod.Get, "videos?limit=2")).Body;
        Assert.Equal("list", first.GetProperty("object").GetString());
        Assert.Equal([ids[2], ids[1]], first.GetProperty("data").EnumerateArray().Select(Id));
        Assert.True(first.GetProperty("has_more").GetBoolean());
        Assert.Equal(ids[2], first.GetProperty("first_id").GetString());
        Assert.Equal(ids[1], first.GetProperty("last_id").GetString());
        var second = (await lister.SendAsync(HttpMethod.Get, $"videos?limit=2&after={ids[1]}")).Body;
        Assert.Equal([ids[0]], second.GetProperty("data").EnumerateArray().Select(Id));
        Assert.False(second.GetProperty("has_more").GetBoolean());
        var ascending = (await lister.SendAsync(HttpMethod.Get, "videos?order=asc")).Body;
        Assert.Equal(ids, ascending.GetProperty("data").EnumerateArray().Select(Id));

        using var acme = fixture.Client(fixture.AcmeKey);
        var theirs = (await acme.SendAsync(HttpMethod.Get, "videos?limit=100")).Body.GetProperty("data").EnumerateArray().Select(Id);
        Assert.Empty(theirs.Intersect(ids));
        foreach (var id in ids) await lister.FinishedAsync(id);
    }

    [Fact]
    public async Task Remix_re_generates_the_source_under_a_new_prompt_keeping_its_size_and_length()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var source = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "a red ball moves right", seconds = "1", size = "48x32", seed = 3 }));
        var remix = await acme.CompletedAsync(acme.PostJsonAsync($"videos/{Id(source)}/remix", new { prompt = "a blue ball moves right" }));
        Assert.Equal(Id(source), remix.GetProperty("remixed_from_video_id").GetString());
        Assert.Equal(source.GetProperty("size").GetString(), remix.GetProperty("size").GetString());
        Assert.Equal(source.GetProperty("seconds").GetString(), remix.GetProperty("seconds").GetString());
        using var before = Latents("acme", Id(source));
        using var after = Latents("acme", Id(remix));
        Assert.Equal(before.shape, after.shape);
        Assert.False(before.eq(after).all().item<bool>());

        var missing = await acme.PostJsonAsync("videos/video_default_latest_0123456789abcdef0123456789abcdef/remix", new { prompt = "x" });
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        var resized = await acme.PostJsonAsync($"videos/{Id(source)}/remix", new { prompt = "x", size = "32x32" });
        Assert.Equal(HttpStatusCode.BadRequest, resized.Status);
        Assert.Equal("size", resized.Body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Extension_of_a_video_id_continues_from_its_exact_latents()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var source = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "a green square falls", seconds = "1", seed = 5 }));
        var form = Form(("prompt", "it keeps falling"), ("seconds", "1"), ("video[id]", Id(source)));
        var extended = await acme.CompletedAsync(acme.SendAsync(HttpMethod.Post, "videos/extensions", form));
        // 9 frames, then 8 more: the source and the new segment.
        Assert.Equal("2.125", extended.GetProperty("seconds").GetString());
        using var sourceLatents = Latents("acme", Id(source));
        using var extendedLatents = Latents("acme", Id(extended));
        var kept = sourceLatents.shape[2];
        Assert.Equal(kept + 2, extendedLatents.shape[2]);
        Assert.True(extendedLatents[.., .., ..(int)kept].eq(sourceLatents).all().item<bool>());
    }

    [Fact]
    public async Task Extension_and_edit_take_an_uploaded_video_file()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var clip = await File.ReadAllBytesAsync(await MediaAsync("clip.mp4", "testsrc=s=64x48:r=8:d=1", "-pix_fmt", "yuv420p"));
        var extend = Form(("prompt", "more of it"), ("seconds", "1"));
        extend.Add(FileContent(clip, "video/mp4"), "video", "clip.mp4");
        var extended = await acme.CompletedAsync(acme.SendAsync(HttpMethod.Post, "videos/extensions", extend));
        // The served size nearest the file's 4:3; its 8 frames give 5 (1 + k·4) to encode, then 8 new ones.
        Assert.Equal("48x32", extended.GetProperty("size").GetString());
        Assert.Equal("1.625", extended.GetProperty("seconds").GetString());
        var edit = Form(("prompt", "the same, in red"));
        edit.Add(FileContent(clip, "video/mp4"), "video", "clip.mp4");
        var edited = await acme.CompletedAsync(acme.SendAsync(HttpMethod.Post, "videos/edits", edit));
        Assert.Equal("0.625", edited.GetProperty("seconds").GetString());
        var image = Form(("prompt", "x"));
        image.Add(FileContent(await PngAsync(), "image/png"), "video", "red.png");
        AssertError(await acme.SendAsync(HttpMethod.Post, "videos/edits", image), HttpStatusCode.BadRequest, "video", "invalid_value");
        AssertError(await acme.SendAsync(HttpMethod.Post, "videos/edits", Form(("prompt", "x"))), HttpStatusCode.BadRequest, "video", "missing_required_parameter");
    }

    [Fact]
    public async Task Edit_of_a_video_id_keeps_its_length_and_takes_a_strength()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var source = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "a red ball moves up", seconds = "1", seed = 9 }));
        var gentle = await acme.CompletedAsync(acme.PostJsonAsync("videos/edits", new { prompt = "a red ball moves up", video = new { id = Id(source) }, strength = 0.2 }));
        var strong = await acme.CompletedAsync(acme.PostJsonAsync("videos/edits", new { prompt = "a red ball moves up", video = new { id = Id(source) }, strength = 1.0 }));
        Assert.Equal(source.GetProperty("seconds").GetString(), gentle.GetProperty("seconds").GetString());
        using var original = Latents("acme", Id(source));
        using var near = Latents("acme", Id(gentle));
        using var far = Latents("acme", Id(strong));
        // SDEdit: a low strength stays closer to the source than a full re-generation does.
        Assert.True((near - original).abs().mean().item<float>() < (far - original).abs().mean().item<float>());
        var bad = await acme.PostJsonAsync("videos/edits", new { prompt = "x", video = new { id = Id(source) }, strength = 1.5 });
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Equal("strength", bad.Body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Image_to_video_takes_an_upload_a_data_URL_or_an_allow_listed_URL()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var png = await PngAsync();
        var upload = Form(("prompt", "a red frame"), ("seconds", "1"));
        upload.Add(FileContent(png, "image/png"), "input_reference", "red.png");
        var uploaded = await acme.CompletedAsync(acme.SendAsync(HttpMethod.Post, "videos", upload));
        Assert.Equal("48x32", uploaded.GetProperty("size").GetString());
        var dataUrl = await acme.CompletedAsync(acme.PostJsonAsync("videos",
            new { prompt = "a red frame", seconds = "1", seed = 4, input_reference = new { image_url = "data:image/png;base64," + Convert.ToBase64String(png) } }));
        var remote = await acme.CompletedAsync(acme.SendAsync(HttpMethod.Post, "videos",
            Form(("prompt", "a red frame"), ("seconds", "1"), ("seed", "4"), ("input_reference[image_url]", fixture.ImageHostUrl + "/red.png"))));
        // The same image and seed make the same video, however the image arrived.
        using var a = Latents("acme", Id(dataUrl));
        using var b = Latents("acme", Id(remote));
        Assert.True(a.eq(b).all().item<bool>());
        Assert.Equal(uploaded.GetProperty("size").GetString(), dataUrl.GetProperty("size").GetString());

        var text = await acme.SendAsync(HttpMethod.Post, "videos",
            Form(("prompt", "x"), ("input_reference[image_url]", fixture.ImageHostUrl + "/text.png")));
        Assert.Equal("invalid_image", text.Body.GetProperty("error").GetProperty("code").GetString());
        var elsewhere = await acme.SendAsync(HttpMethod.Post, "videos", Form(("prompt", "x"), ("input_reference[image_url]", "https://example.com/a.png")));
        Assert.Equal(HttpStatusCode.BadRequest, elsewhere.Status);
        Assert.Equal("image_url_not_allowed", elsewhere.Body.GetProperty("error").GetProperty("code").GetString());
        var fileId = await acme.SendAsync(HttpMethod.Post, "videos", Form(("prompt", "x"), ("input_reference[file_id]", "file_123")));
        Assert.Equal("unsupported", fileId.Body.GetProperty("error").GetProperty("code").GetString());
        var notImage = Form(("prompt", "x"));
        notImage.Add(FileContent(Encoding.UTF8.GetBytes("hello, not a picture"), "image/png"), "input_reference", "fake.png");
        var refused = await acme.SendAsync(HttpMethod.Post, "videos", notImage);
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Equal("invalid_image", refused.Body.GetProperty("error").GetProperty("code").GetString());
        // A finished session's uploads are gone: only its outputs stay.
        Assert.Empty(Directory.Exists(Path.Combine(fixture.Artifacts, "acme", "uploads")) ? Directory.GetFiles(Path.Combine(fixture.Artifacts, "acme", "uploads")) : []);
    }

    [Fact]
    public async Task Loops_and_connections_are_Reels_own_requests()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var loop = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "a ball circles", seconds = "2", loop = true }));
        Assert.Equal("2.125", loop.GetProperty("seconds").GetString());
        var a = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "a red ball", seconds = "1" }));
        var b = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "a blue ball", seconds = "1" }));
        var bridge = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "red turns blue", seconds = "1", connect = new[] { Id(a), Id(b) } }));
        Assert.Equal("3.25", bridge.GetProperty("seconds").GetString()); // 9 + 8 + 9 frames

        var one = await acme.PostJsonAsync("videos", new { prompt = "x", connect = new[] { Id(a) } });
        Assert.Equal("connect", one.Body.GetProperty("error").GetProperty("param").GetString());
        var maybe = await acme.PostJsonAsync("videos", new { prompt = "x", loop = "maybe" });
        Assert.Equal("loop", maybe.Body.GetProperty("error").GetProperty("param").GetString());
        using var globex = fixture.Client(fixture.GlobexKey);
        var foreign = await globex.PostJsonAsync("videos", new { prompt = "x", connect = new[] { Id(a), Id(b) } });
        Assert.Equal(HttpStatusCode.NotFound, foreign.Status);
    }

    [Theory]
    [InlineData("{\"seconds\":\"1\"}", HttpStatusCode.BadRequest, "prompt", "missing_required_parameter")]
    [InlineData("{\"prompt\":\"  \"}", HttpStatusCode.BadRequest, "prompt", "missing_required_parameter")]
    [InlineData("{\"prompt\":\"x\",\"seconds\":\"abc\"}", HttpStatusCode.BadRequest, "seconds", "invalid_value")]
    [InlineData("{\"prompt\":\"x\",\"seconds\":\"999\"}", HttpStatusCode.BadRequest, "seconds", "invalid_value")]
    [InlineData("{\"prompt\":\"x\",\"size\":\"640x480\"}", HttpStatusCode.BadRequest, "size", "invalid_value")]
    [InlineData("{\"prompt\":\"x\",\"size\":\"big\"}", HttpStatusCode.BadRequest, "size", "invalid_value")]
    [InlineData("{\"prompt\":\"x\",\"model\":\"gpt-4o\"}", HttpStatusCode.BadRequest, "model", "model_not_found")]
    [InlineData("{\"prompt\":\"x\",\"seed\":-4}", HttpStatusCode.BadRequest, "seed", "invalid_value")]
    [InlineData("{\"prompt\":\"x\",\"seed\":9007199254740992}", HttpStatusCode.BadRequest, "seed", "invalid_value")]
    [InlineData("{\"prompt\":\"x\",\"steps\":0}", HttpStatusCode.BadRequest, "steps", "invalid_value")]
    [InlineData("{\"prompt\":\"x\",\"guidance\":\"lots\"}", HttpStatusCode.BadRequest, "guidance", "invalid_value")]
    [InlineData("[1, 2]", HttpStatusCode.BadRequest, null, "invalid_request")]
    [InlineData("{\"prompt\": ", HttpStatusCode.BadRequest, null, "invalid_request")]
    public async Task Bad_create_requests_get_the_error_envelope(string body, HttpStatusCode status, string? param, string code)
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var response = await acme.SendAsync(HttpMethod.Post, "videos", new StringContent(body, Encoding.UTF8, "application/json"));
        AssertError(response, status, param, code);
    }

    [Fact]
    public async Task Hostile_bodies_queries_and_methods_get_the_error_envelope_never_an_empty_body()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        // A prompt string holding bytes that are not UTF-8.
        var invalid = new ByteArrayContent([.. Encoding.ASCII.GetBytes("{\"prompt\":\"a "), 0xC3, 0x28, 0xFF, .. Encoding.ASCII.GetBytes(" ball\"}")]);
        invalid.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        AssertError(await acme.SendAsync(HttpMethod.Post, "videos", invalid), HttpStatusCode.BadRequest, null, "invalid_request");
        AssertError(await acme.PostJsonAsync("videos", new { prompt = new string('a', Reel.Requests.RequestCompiler.MaxPromptLength + 1) }),
            HttpStatusCode.BadRequest, "prompt", "string_above_max_length");
        AssertError(await acme.SendAsync(HttpMethod.Get, "videos?limit=abc"), HttpStatusCode.BadRequest, "limit", "invalid_value");
        AssertError(await acme.SendAsync(HttpMethod.Get, "videos?limit=0"), HttpStatusCode.BadRequest, "limit", "invalid_value");
        AssertError(await acme.SendAsync(HttpMethod.Get, "usage?days=abc"), HttpStatusCode.BadRequest, "days", "invalid_value");
        AssertError(await acme.SendAsync(HttpMethod.Put, "videos"), HttpStatusCode.MethodNotAllowed, null, "method_not_allowed");
        AssertError(await acme.SendAsync(HttpMethod.Patch, "videos/video_0123456789abcdef0123456789abcdef"), HttpStatusCode.MethodNotAllowed, null, "method_not_allowed");
        AssertError(await acme.SendAsync(HttpMethod.Get, "no/such/thing"), HttpStatusCode.NotFound, null, "unknown_url");
    }

    [Fact]
    public async Task Malformed_multipart_unsupported_content_types_and_oversize_bodies_are_refused()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var broken = new StringContent("--xyz\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhello", Encoding.UTF8);
        broken.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=xyz");
        AssertError(await acme.SendAsync(HttpMethod.Post, "videos", broken), HttpStatusCode.BadRequest, null, "invalid_request");
        AssertError(await acme.SendAsync(HttpMethod.Post, "videos", new StringContent("prompt", Encoding.UTF8, "text/plain")),
            HttpStatusCode.UnsupportedMediaType, null, "unsupported_media_type");
        var huge = Form(("prompt", "x"));
        huge.Add(FileContent(new byte[26 * 1024 * 1024], "image/png"), "input_reference", "huge.png");
        AssertError(await acme.SendAsync(HttpMethod.Post, "videos", huge), HttpStatusCode.RequestEntityTooLarge, null, "request_too_large");
    }

    [Fact]
    public async Task Another_tenants_id_is_a_404_in_every_endpoint()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        using var globex = fixture.Client(fixture.GlobexKey);
        var video = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "a secret", seconds = "1" }));
        var id = Id(video);
        foreach (var (method, path, content) in new (HttpMethod, string, HttpContent?)[]
        {
            (HttpMethod.Get, $"videos/{id}", null), (HttpMethod.Get, $"videos/{id}/content", null), (HttpMethod.Delete, $"videos/{id}", null),
            (HttpMethod.Post, $"videos/{id}/cancel", null), (HttpMethod.Post, $"videos/{id}/remix", JsonContent(new { prompt = "x" })),
            (HttpMethod.Post, "videos/extensions", JsonContent(new { prompt = "x", video = new { id } })),
            (HttpMethod.Post, "videos/edits", JsonContent(new { prompt = "x", video = new { id } })),
        })
            AssertError(await globex.SendAsync(method, path, content), HttpStatusCode.NotFound, null, "not_found");
        var unknown = await acme.SendAsync(HttpMethod.Get, "videos/video_nope");
        AssertError(unknown, HttpStatusCode.NotFound, "id", "not_found");
        Assert.Equal(HttpStatusCode.OK, (await acme.SendAsync(HttpMethod.Get, $"videos/{id}")).Status);
    }

    [Fact]
    public async Task Delete_refuses_a_video_in_progress_and_removes_a_finished_one()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var running = await acme.PostJsonAsync("videos", new { prompt = "a long one", seconds = "4" });
        var id = Id(running.Body);
        var refused = await acme.SendAsync(HttpMethod.Delete, $"videos/{id}");
        AssertError(refused, HttpStatusCode.Conflict, null, "video_in_progress");
        Assert.Equal("false", refused.Response.Headers.GetValues("x-should-retry").Single());
        var notReady = await acme.SendAsync(HttpMethod.Get, $"videos/{id}/content");
        AssertError(notReady, HttpStatusCode.Conflict, null, "video_not_ready");
        var cancelled = await acme.SendAsync(HttpMethod.Post, $"videos/{id}/cancel");
        Assert.Equal("failed", cancelled.Body.GetProperty("status").GetString());
        Assert.Equal("cancelled", cancelled.Body.GetProperty("error").GetProperty("code").GetString());
        var deleted = await acme.SendAsync(HttpMethod.Delete, $"videos/{id}");
        Assert.Equal(HttpStatusCode.OK, deleted.Status);
        Assert.Equal("video.deleted", deleted.Body.GetProperty("object").GetString());
        Assert.True(deleted.Body.GetProperty("deleted").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await acme.SendAsync(HttpMethod.Get, $"videos/{id}")).Status);
    }

    [Fact]
    public async Task Characters_bad_keys_and_missing_keys_answer_errors_the_SDK_does_not_retry()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var characters = await acme.PostJsonAsync("videos/characters", new { name = "x" });
        AssertError(characters, HttpStatusCode.BadRequest, "characters", "unsupported");
        Assert.Equal("false", characters.Response.Headers.GetValues("x-should-retry").Single());
        AssertError(await acme.SendAsync(HttpMethod.Get, "videos/characters/char_1"), HttpStatusCode.BadRequest, "characters", "unsupported");
        using var stranger = fixture.Client("reel_not-a-key");
        AssertError(await stranger.SendAsync(HttpMethod.Get, "videos"), HttpStatusCode.Unauthorized, null, "invalid_api_key");
        using var anonymous = fixture.Client("");
        AssertError(await anonymous.SendAsync(HttpMethod.Get, "models"), HttpStatusCode.Unauthorized, null, "invalid_api_key");
    }

    [Fact]
    public async Task A_rotated_key_works_beside_the_old_one_until_the_old_one_is_revoked()
    {
        var (oldKey, oldStored) = ApiKeys.Create();
        TenantsFile.Read(fixture.Tenants).With(new Tenant { Name = "rotor", Keys = [oldStored] }).Write(fixture.Tenants);
        using var old = fixture.Client(oldKey);
        await ReelClusterFixture.Until(async () => (await old.SendAsync(HttpMethod.Get, "videos")).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(10));
        var (newKey, newStored) = ApiKeys.Create();
        TenantsFile.Read(fixture.Tenants).With(new Tenant { Name = "rotor", Keys = [oldStored, newStored] }).Write(fixture.Tenants);
        using var fresh = fixture.Client(newKey);
        await ReelClusterFixture.Until(async () => (await fresh.SendAsync(HttpMethod.Get, "videos")).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, (await old.SendAsync(HttpMethod.Get, "videos")).Status);
        var id = Id((await fresh.PostJsonAsync("videos", new { prompt = "rotated", seconds = "1" })).Body);
        Assert.Equal(HttpStatusCode.OK, (await old.SendAsync(HttpMethod.Get, $"videos/{id}")).Status);

        TenantsFile.Read(fixture.Tenants).With(new Tenant { Name = "rotor", Keys = [newStored] }).Write(fixture.Tenants);
        await ReelClusterFixture.Until(async () => (await old.SendAsync(HttpMethod.Get, "videos")).Status == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, (await fresh.SendAsync(HttpMethod.Get, $"videos/{id}")).Status);
        await fresh.FinishedAsync(id);
    }

    [Fact]
    public async Task The_OpenAPI_document_and_the_reference_page_need_no_key()
    {
        using var http = fixture.App.GetTestClient();
        var document = JsonDocument.Parse(await http.GetStringAsync("/openapi/v1.json")).RootElement;
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        foreach (var path in new[] { "/v1/videos", "/v1/videos/{id}", "/v1/videos/{id}/content", "/v1/videos/{id}/remix", "/v1/videos/extensions", "/v1/videos/edits", "/v1/models" })
            Assert.Contains(path, paths);
        var page = await http.GetStringAsync("/docs/index.html");
        Assert.Contains("swagger-ui", page);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
    }

    private static StringContent JsonContent(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private static void AssertError((HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response) response, HttpStatusCode status, string? param, string code)
    {
        Assert.True(response.Status == status, $"{response.Status}: {response.Body}");
        Assert.True(response.Body.ValueKind == JsonValueKind.Object, $"{response.Status} without the error envelope ({response.Response.Content.Headers.ContentType})");
        var error = response.Body.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()));
        Assert.Equal(code, error.GetProperty("code").GetString());
        if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
    }
}
