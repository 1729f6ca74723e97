using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Reel.Tests;

/// <summary>Metrics on the management port of a running `reel serve`, and one trace from the gateway to the model host.</summary>
public sealed partial class GatewayApiTests
{
    [Fact]
    public async Task One_trace_follows_a_create_from_the_gateway_through_the_session_grain_to_the_model_host()
    {
        using var acme = fixture.Client(fixture.AcmeKey);
        var video = await acme.CompletedAsync(acme.PostJsonAsync("videos", new { prompt = "traced", seconds = "1" }));
        var session = TestModels.SessionOf(Id(video));
        List<Activity> spans;
        lock (fixture.Spans) spans = [.. fixture.Spans];
        var chunk = spans.First(s => s.OperationName == "session.chunk" && (string?)s.GetTagItem("reel.session") == session);
        var trace = spans.Where(s => s.TraceId == chunk.TraceId).ToList();
        Assert.Contains(trace, s => s.Kind == ActivityKind.Server && s.DisplayName.StartsWith("POST"));
        Assert.Contains(trace, s => s.Source.Name.StartsWith("Microsoft.Orleans") && s.DisplayName.Contains("IGenerationSessionGrain"));
        var model = Assert.Single(trace, s => s.OperationName == "model.generate_chunk" && s.ParentSpanId == chunk.SpanId);
        Assert.True(model.Duration > TimeSpan.Zero);
    }
}

public sealed partial class TelemetryTests
{
    [Fact]
    public async Task The_management_port_serves_metrics_that_move_during_a_generation_and_the_API_port_serves_none()
    {
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        var key = ReelProcess.AddTenant(tenants, "acme");
        const string token = "operator-token-for-tests";
        using var serve = ReelServer.Serve(tenants, slowSteps: true, new Dictionary<string, string>
        {
            ["REEL__DASHBOARD"] = "true", ["REEL__OPERATORTOKEN"] = token, ["REEL__TENANTMETRICS"] = "true",
        });
        await serve.HealthyAsync();
        using var api = serve.Api(key);
        await serve.ServesModelAsync(api);
        using var scraper = new HttpClient();
        async Task<string> Scrape() => await scraper.GetStringAsync($"http://127.0.0.1:{serve.ManagementPort}/metrics");

        var before = await Scrape();
        Assert.True(Value(before, "reel_model_load_duration_seconds") > 0);
        // Two videos at once on a one-session silo: the second waits in the queue while the first runs.
        var first = (await api.PostJsonAsync("videos", new { prompt = "a red ball", seconds = "2" })).Body.GetProperty("id").GetString()!;
        var second = (await api.PostJsonAsync("videos", new { prompt = "a blue ball", seconds = "1" })).Body.GetProperty("id").GetString()!;
        string during = "";
        await ReelClient.Until(async () => Value(during = await Scrape(), "reel_denoising_step_duration_seconds_count") > 0, serve);
        Assert.Equal(1, Value(during, "reel_sessions_running", "pool=\"default\""));
        Assert.Equal(1, Value(during, "reel_pool_queue_depth", "pool=\"default\"", "tenant=\"acme\""));
        foreach (var id in new[] { first, second })
            await ReelClient.Until(async () => (await api.SendAsync(HttpMethod.Get, $"videos/{id}")).Body.GetProperty("status").GetString() == "completed", serve);
        var after = await Scrape();
        Assert.True(Value(after, "reel_denoising_step_duration_seconds_count") > Value(during, "reel_denoising_step_duration_seconds_count"));
        Assert.Equal(17 + 9, Value(after, "reel_frames_generated_total", "pool=\"default\""));
        Assert.True(Value(after, "reel_chunk_duration_seconds_count", "pool=\"default\"") >= 3);
        Assert.Contains("reel_chunk_duration_seconds_bucket", after);
        Assert.Equal(0, Value(after, "reel_sessions_running", "pool=\"default\""));

        // Orleans' dashboard, switched on, is on the management port too.
        var dashboard = await scraper.GetAsync($"http://127.0.0.1:{serve.ManagementPort}/dashboard/");
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Equal("text/html", dashboard.Content.Headers.ContentType?.MediaType);

        // The tenants' port: no metrics, no drain, no dashboard; the management port: nothing else.
        Assert.Equal(HttpStatusCode.NotFound, (await scraper.GetAsync($"http://127.0.0.1:{serve.HttpPort}/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await scraper.GetAsync($"http://127.0.0.1:{serve.HttpPort}/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await scraper.PostAsync($"http://127.0.0.1:{serve.HttpPort}/drain", null)).StatusCode);
        foreach (var path in new[] { "/v1/models", "/", "/healthz", "/docs" })
            Assert.Equal(HttpStatusCode.NotFound, (await scraper.GetAsync($"http://127.0.0.1:{serve.ManagementPort}{path}")).StatusCode);

        // Drain wants the operator's token when one is set, even from this machine.
        Assert.Equal(HttpStatusCode.Unauthorized, (await scraper.PostAsync($"http://127.0.0.1:{serve.ManagementPort}/drain", null)).StatusCode);
        var refused = ReelProcess.Run("drain", "--port", $"{serve.ManagementPort}", "--token", "not-the-operator-token");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("operator's token", refused.Stderr);
        var drained = ReelProcess.Run("drain", "--port", $"{serve.ManagementPort}", "--token", token);
        Assert.True(drained.ExitCode == 0, drained.Stderr);
    }

    [Fact]
    public async Task Metrics_carry_no_tenant_names_and_the_management_port_listens_on_loopback_unless_opened()
    {
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        ReelProcess.AddTenant(tenants, "acme");
        using var serve = ReelServer.Serve(tenants);
        await serve.HealthyAsync();
        using var scraper = new HttpClient();
        var metrics = await scraper.GetStringAsync($"http://127.0.0.1:{serve.ManagementPort}/metrics");
        Assert.DoesNotContain("tenant=", metrics);
        var listening = System.Net.NetworkInformation.IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners();
        Assert.Contains(listening, l => l.Port == serve.ManagementPort && System.Net.IPAddress.IsLoopback(l.Address));
        Assert.DoesNotContain(listening, l => l.Port == serve.ManagementPort && !System.Net.IPAddress.IsLoopback(l.Address));
        Assert.Contains(listening, l => l.Port == serve.HttpPort && !System.Net.IPAddress.IsLoopback(l.Address));
    }

    /// <summary>The value of the first sample of <paramref name="metric"/> whose labels include all of <paramref name="labels"/>; 0 when there is none.</summary>
    private static double Value(string scrape, string metric, params string[] labels)
    {
        foreach (Match line in Sample().Matches(scrape))
        {
            if (line.Groups["name"].Value != metric) continue;
            var found = line.Groups["labels"].Value;
            if (labels.All(found.Contains)) return double.Parse(line.Groups["value"].Value, CultureInfo.InvariantCulture);
        }
        return 0;
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{(?<labels>[^}]*)\})? (?<value>[0-9.eE+-]+)", RegexOptions.Multiline)]
    private static partial Regex Sample();
}
