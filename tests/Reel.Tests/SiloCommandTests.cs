using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Reel.Abstractions;
using Reel.Grains;
using Reel.Model;

namespace Reel.Tests;

/// <summary>`reel serve` and `reel silo` as separate processes.</summary>
public sealed class SiloCommandTests
{
    [Fact]
    public async Task Serve_is_one_process_that_makes_a_video_into_its_artifacts_folder()
    {
        var gateway = AzuriteFixture.FreePort();
        await MakesAVideo(["serve", "--gateway-port", $"{gateway}"],
            client => client.UseLocalhostClustering(gateway, serviceId: "reel", clusterId: "reel"));
    }

    [Fact]
    public async Task A_model_silo_joins_a_Redis_cluster_and_makes_a_video()
    {
        using var redis = new RedisFixture();
        await MakesAVideo(["silo", "--model", "--redis", redis.ConnectionString, "--advertise-ip", "127.0.0.1", "--gateway-port", $"{AzuriteFixture.FreePort()}"],
            client => client.UseRedisClustering(redis.ConnectionString).Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = ("reel", "reel")));
    }

    /// <summary>Starts reel with <paramref name="args"/> and the test model, waits for health, makes a video through a cluster client.</summary>
    private static async Task MakesAVideo(string[] args, Action<IClientBuilder> connect)
    {
        var artifacts = TestModels.TempFolder();
        var http = AzuriteFixture.FreePort();
        using var reel = Start([.. args, "--config", "test", "--threads", "1", "--artifacts", artifacts, "--silo-port", $"{AzuriteFixture.FreePort()}", "--http-port", $"{http}"]);
        try
        {
            using var web = new HttpClient();
            using var health = await Until(async () =>
            {
                try
                {
                    var response = await web.GetAsync($"http://127.0.0.1:{http}/healthz");
                    return response.StatusCode == HttpStatusCode.OK ? response : null;
                }
                catch (HttpRequestException)
                {
                    return null;
                }
            }, reel);
            using var body = JsonDocument.Parse(await health.Content.ReadAsStringAsync());
            Assert.Equal(ModelSource.WeightsHash(null, "test"), body.RootElement.GetProperty("weights").GetString());

            var builder = Host.CreateApplicationBuilder();
            builder.UseOrleansClient(connect);
            using var host = builder.Build();
            await host.StartAsync();
            var sessions = new ReelSessions(host.Services.GetRequiredService<IClusterClient>());
            var created = await sessions.CreateAsync("acme", "default", new VideoRequest { Prompt = "a red ball", Width = 32, Height = 32, Frames = 9, Seed = 3 });
            var done = await Until(async () => await sessions.GetAsync(created.Key) is { IsFinished: true } s ? s : null, reel);
            Assert.Equal(SessionStatus.Completed, done.Status);
            Assert.True(new FileInfo(Path.Combine(artifacts, SessionArtifacts.Video(created.Key).Value)).Length > 0);
            await host.StopAsync();
        }
        finally
        {
            reel.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void Silo_refuses_settings_that_cannot_work()
    {
        var result = ReelProcess.Run("silo", "--model", "--pool", "Bad_Pool", "--config", "test");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Pool 'Bad_Pool'", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    private static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "reel.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task<T> Until<T>(Func<Task<T?>> attempt, Process process) where T : class
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"reel exited with {process.ExitCode}.");
            if (await attempt() is { } result) return result;
            await Task.Delay(200);
        }
        throw new TimeoutException("reel did not get there in 2 minutes.");
    }
}
