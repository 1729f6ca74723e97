using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Reel.Abstractions;
using Reel.Gateway;
using Reel.Storage;

namespace Reel.Tests;

/// <summary>Limits, fair share, usage, idempotency, live progress and retention, on the same in-process gateway.</summary>
public sealed partial class GatewayApiTests
{
    [Fact]
    public async Task A_repeated_Idempotency_Key_replays_the_video_and_a_reused_one_is_a_409()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> Post(string key, HttpContent content)
        {
            content.Headers.Add("Idempotency-Key", key);
            return await acme.SendAsync(HttpMethod.Post, "videos", content);
        }
        var key = Guid.NewGuid().ToString();
        var first = await Post(key, JsonContent(new { prompt = "a red ball", seconds = "1", seed = 21 }));
        // The same request in the other spelling (multipart, a string seed) is the same request.
        var again = await Post(key, Form(("seed", "21"), ("seconds", "1"), ("prompt", "a red ball")));
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(Id(first.Body), Id(again.Body));
        var other = await Post(key, JsonContent(new { prompt = "a blue ball", seconds = "1", seed = 21 }));
        AssertError(other, HttpStatusCode.Conflict, null, "idempotency_key_reused");
        Assert.Equal("false", other.Response.Headers.GetValues("x-should-retry").Single());
        var page = (await acme.SendAsync(HttpMethod.Get, "videos?limit=100")).Body.GetProperty("data").EnumerateArray().Select(Id);
        Assert.Single(page, id => id == Id(first.Body));

        // Uploads take part by their content: the same image again replays, another image conflicts.
        var image = await PngAsync();
        var uploadKey = Guid.NewGuid().ToString();
        MultipartFormDataContent WithImage(byte[] bytes)
        {
            var form = Form(("prompt", "from a picture"), ("seconds", "1"));
            form.Add(FileContent(bytes, "image/png"), "input_reference", "a.png");
            return form;
        }
        var uploaded = await Post(uploadKey, WithImage(image));
        Assert.Equal(Id(uploaded.Body), Id((await Post(uploadKey, WithImage(image))).Body));
        var otherImage = await File.ReadAllBytesAsync(await MediaAsync("blue.png", "color=c=blue:s=48x36", "-frames:v", "1"));
        AssertError(await Post(uploadKey, WithImage(otherImage)), HttpStatusCode.Conflict, null, "idempotency_key_reused");
        await acme.FinishedAsync(Id(first.Body));
        await acme.FinishedAsync(Id(uploaded.Body));
    }

    [Fact]
    public async Task Each_limit_answers_429_with_Retry_After_and_a_longer_video_than_allowed_is_a_400()
    {
        using var busy = await fixture.AddTenantAsync(new Tenant { Name = "busy", MaxActiveVideos = 1 });
        var running = await busy.PostJsonAsync("videos", new { prompt = "a long one", seconds = "4" });
        var refused = await busy.PostJsonAsync("videos", new { prompt = "another", seconds = "1" });
        AssertError(refused, HttpStatusCode.TooManyRequests, null, "too_many_active_videos");
        Assert.True(int.Parse(refused.Response.Headers.GetValues("Retry-After").Single()) >= 1);
        await busy.FinishedAsync(Id(running.Body));
        // The slot is free again once the video ended.
        await busy.CompletedAsync(busy.PostJsonAsync("videos", new { prompt = "another", seconds = "1" }));

        using var daily = await fixture.AddTenantAsync(new Tenant { Name = "daily", SecondsPerDay = 3 });
        var one = await daily.PostJsonAsync("videos", new { prompt = "one", seconds = "2" });
        Assert.Equal(HttpStatusCode.OK, one.Status);
        var tooMuch = await daily.PostJsonAsync("videos", new { prompt = "two", seconds = "2" });
        AssertError(tooMuch, HttpStatusCode.TooManyRequests, null, "daily_seconds_exceeded");
        var untilMidnight = (DateTime.UtcNow.Date.AddDays(1) - DateTime.UtcNow).TotalSeconds;
        Assert.InRange(int.Parse(tooMuch.Response.Headers.GetValues("Retry-After").Single()), untilMidnight - 60, untilMidnight + 60);
        await daily.FinishedAsync(Id(one.Body));

        using var chatty = await fixture.AddTenantAsync(new Tenant { Name = "chatty", RequestsPerMinute = 5 });
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++) statuses.Add((await chatty.SendAsync(HttpMethod.Get, "videos")).Status);
        // AddTenantAsync's own probe spent one request of the window.
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        Assert.Contains(HttpStatusCode.OK, statuses);
        var limited = await chatty.SendAsync(HttpMethod.Get, "models");
        AssertError(limited, HttpStatusCode.TooManyRequests, null, "rate_limit_exceeded");
        Assert.True(int.Parse(limited.Response.Headers.GetValues("Retry-After").Single()) is >= 1 and <= 60);

        using var brief = await fixture.AddTenantAsync(new Tenant { Name = "brief", MaxSecondsPerVideo = 1 });
        AssertError(await brief.PostJsonAsync("videos", new { prompt = "x", seconds = "2" }), HttpStatusCode.BadRequest, "seconds", "seconds_above_tenant_limit");

        using var hoarder = await fixture.AddTenantAsync(new Tenant { Name = "hoarder", StorageBytes = 1000 });
        await hoarder.CompletedAsync(hoarder.PostJsonAsync("videos", new { prompt = "fills it", seconds = "1" }));
        var full = await hoarder.PostJsonAsync("videos", new { prompt = "one more", seconds = "1" });
        AssertError(full, HttpStatusCode.TooManyRequests, null, "storage_quota_exceeded");
        Assert.True(full.Response.Headers.Contains("Retry-After"));
    }

    [Fact]
    public async Task A_tenant_flooding_the_queue_does_not_starve_another()
    {
        using var flood = await fixture.AddTenantAsync(new Tenant { Name = "flood" });
        using var trickle = await fixture.AddTenantAsync(new Tenant { Name = "trickle" });
        var flooded = new List<string>();
        for (var i = 0; i < 20; i++) flooded.Add(Id((await flood.PostJsonAsync("videos", new { prompt = $"flood {i}", seconds = "1", seed = i })).Body));
        var mine = Id((await trickle.PostJsonAsync("videos", new { prompt = "mine", seconds = "1" })).Body);
        await trickle.FinishedAsync(mine);
        foreach (var id in flooded) await flood.FinishedAsync(id);
        var sessions = fixture.App.Services.GetRequiredService<ReelSessions>();
        var trickled = (await sessions.GetAsync("trickle", mine))!;
        var floodStarts = new List<DateTimeOffset>();
        foreach (var id in flooded) floodStarts.Add((await sessions.GetAsync("flood", id))!.StartedAt!.Value);
        // Its turn comes next after it arrives: no flood video that was waiting then starts before it.
        var overtook = floodStarts.Count(s => s > trickled.CreatedAt && s < trickled.StartedAt);
        Assert.True(overtook <= 1, $"{overtook} flood videos started between the other tenant's arrival and its start");
        Assert.Contains(floodStarts, s => s > trickled.StartedAt);
    }

    [Fact]
    public async Task Usage_counts_videos_seconds_and_model_time_per_day()
    {
        using var meter = await fixture.AddTenantAsync(new Tenant { Name = "meter" });
        await meter.CompletedAsync(meter.PostJsonAsync("videos", new { prompt = "one", seconds = "1" }));
        await meter.CompletedAsync(meter.PostJsonAsync("videos", new { prompt = "two", seconds = "2" }));
        var cancelled = await meter.PostJsonAsync("videos", new { prompt = "three", seconds = "4" });
        await meter.SendAsync(HttpMethod.Post, $"videos/{Id(cancelled.Body)}/cancel");
        JsonElement today = default;
        await ReelClusterFixture.Until(async () =>
        {
            today = (await meter.SendAsync(HttpMethod.Get, "usage?days=2")).Body.GetProperty("data")[0];
            return today.GetProperty("videos").GetInt32() == 2;
        }, TimeSpan.FromSeconds(20));
        Assert.Equal(DateTime.UtcNow.ToString("yyyy-MM-dd"), today.GetProperty("date").GetString());
        Assert.Equal(1.125 + 2.125, today.GetProperty("seconds").GetDouble(), 6);
        Assert.Equal(7.0, today.GetProperty("requested_seconds").GetDouble(), 6);
        Assert.True(today.GetProperty("model_seconds").GetDouble() > 0);
        var sessions = fixture.App.Services.GetRequiredService<ReelSessions>();
        Assert.Equal(2, (await sessions.UsageAsync("meter", 1))[0].Videos);
    }

    [Fact]
    public async Task The_event_stream_runs_to_completion_and_resumes_after_Last_Event_ID()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var id = Id((await acme.PostJsonAsync("videos", new { prompt = "watched", seconds = "2" })).Body);
        var first = await ReadEventsAsync(id, lastEventId: null, stopAfter: 3);
        Assert.Equal(3, first.Count);
        Assert.All(first, e => Assert.Equal("progress", e.Event));
        var resumed = await ReadEventsAsync(id, first[^1].Id, stopAfter: null);
        Assert.True(resumed[0].Id > first[^1].Id);
        Assert.Equal(resumed.Select(e => e.Id).Order(), resumed.Select(e => e.Id));
        var done = resumed[^1];
        Assert.Equal("done", done.Event);
        Assert.Equal("completed", done.Data.GetProperty("status").GetString());
        var progress = resumed.Where(e => e.Event == "progress").Select(e => e.Data).ToList();
        Assert.Contains(progress, p => p.GetProperty("chunks").GetInt32() > 1 && p.GetProperty("chunk").GetInt32() >= 1);
        Assert.Equal(progress.Select(p => p.GetProperty("progress").GetInt32()).Order(), progress.Select(p => p.GetProperty("progress").GetInt32()));
    }

    private sealed record ServerEvent(long Id, string Event, JsonElement Data);

    private async Task<List<ServerEvent>> ReadEventsAsync(string id, long? lastEventId, int? stopAfter)
    {
        using var http = fixture.App.GetTestClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/videos/{id}/events");
        request.Headers.Authorization = new("Bearer", fixture.AcmeKey);
        if (lastEventId is { } last) request.Headers.Add("Last-Event-ID", last.ToString());
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<ServerEvent>();
        var (eventId, name) = (0L, "");
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("id: ")) eventId = long.Parse(line[4..]);
            else if (line.StartsWith("event: ")) name = line[7..];
            else if (line.StartsWith("data: ")) events.Add(new ServerEvent(eventId, name, JsonDocument.Parse(line[6..]).RootElement.Clone()));
            // Dropping the connection part way, as a flaky network would.
            if (events.Count == stopAfter) break;
        }
        return events;
    }

    [Fact]
    public async Task Expired_videos_and_orphans_are_swept_and_a_running_sessions_artifacts_are_not()
    {
        using var brief = await fixture.AddTenantAsync(new Tenant { Name = "ephemeral", RetentionHours = 2.0 / 3600 });
        var video = await brief.CompletedAsync(brief.PostJsonAsync("videos", new { prompt = "gone soon", seconds = "1" }));
        Assert.InRange(video.GetProperty("expires_at").GetInt64() - video.GetProperty("completed_at").GetInt64(), 1, 3);
        var folder = Path.Combine(fixture.Artifacts, "ephemeral", "sessions", TestModels.SessionOf(Id(video)));
        Assert.True(File.Exists(Path.Combine(folder, "video.mp4")));

        // Planted: a folder no session owns, an upload older than the grace, and a fresh one (its create may be on its way).
        var orphan = Path.Combine(fixture.Artifacts, "ephemeral", "sessions", Guid.NewGuid().ToString("N"), "video.mp4");
        Directory.CreateDirectory(Path.GetDirectoryName(orphan)!);
        await File.WriteAllTextAsync(orphan, "left behind");
        var uploads = Path.Combine(fixture.Artifacts, "ephemeral", "uploads");
        Directory.CreateDirectory(uploads);
        var stale = Path.Combine(uploads, $"{DateTime.UtcNow.AddHours(-2):yyyyMMdd'T'HHmmss'Z'}-{Guid.NewGuid():N}.png");
        var fresh = Path.Combine(uploads, Path.GetFileName(SessionArtifacts.NewUpload("ephemeral", ".png").Value));
        await File.WriteAllTextAsync(stale, "old");
        await File.WriteAllTextAsync(fresh, "new");

        // A long session of the same tenant runs while the sweep (every second here) goes on.
        var running = Id((await brief.PostJsonAsync("videos", new { prompt = "still running", seconds = "19" })).Body);
        var runningFolder = Path.Combine(fixture.Artifacts, "ephemeral", "sessions", TestModels.SessionOf(running), "chunks");
        await ReelClusterFixture.Until(() => Task.FromResult(Directory.Exists(runningFolder) && Directory.GetFiles(runningFolder).Length >= 2), TimeSpan.FromSeconds(60));

        await ReelClusterFixture.Until(async () => (await brief.SendAsync(HttpMethod.Get, $"videos/{Id(video)}")).Status == HttpStatusCode.NotFound, TimeSpan.FromSeconds(20));
        await ReelClusterFixture.Until(() => Task.FromResult(!File.Exists(orphan) && !File.Exists(stale)), TimeSpan.FromSeconds(10));
        Assert.False(Directory.Exists(folder) && Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any());
        Assert.True(File.Exists(fresh));
        Assert.DoesNotContain(Id(video), (await brief.SendAsync(HttpMethod.Get, "videos")).Body.GetProperty("data").EnumerateArray().Select(Id));

        var status = await brief.SendAsync(HttpMethod.Get, $"videos/{running}");
        Assert.Equal("in_progress", status.Body.GetProperty("status").GetString());
        Assert.True(Directory.GetFiles(runningFolder).Length >= 2, "the sweep deleted a running session's chunks");
        Assert.Equal("completed", (await brief.FinishedAsync(running)).GetProperty("status").GetString());
    }
}
