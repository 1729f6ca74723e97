using System.CommandLine;
using Microsoft.Extensions.Hosting;
using Reel.Abstractions;
using Reel.Grains;
using Reel.Gateway;
using Reel.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Reel.Model;

namespace Reel.Cli;

/// <summary>
/// <c>reel silo</c> runs a cluster member; <c>reel serve</c> runs the embedded default: one process that is a model
/// silo, with no external service. Both are the same host (<see cref="ReelHost"/>); unset flags keep what the
/// <c>Reel</c> configuration section (environment <c>REEL__*</c>) says.
/// </summary>
public static class SiloCommands
{
    private sealed class Options
    {
        public readonly Option<bool> Model = new("--model") { Description = "This silo holds the model and runs sessions" };
        public readonly Option<string?> Pool = new("--pool") { Description = "The pool a model silo serves (default: default)" };
        public readonly Option<string?> Redis = new("--redis") { Description = "Redis connection string: clustering and grain state" };
        public readonly Option<string?> Blob = new("--blob") { Description = "Azure Blob Storage connection string: artifacts" };
        public readonly Option<DirectoryInfo?> Artifacts = new("--artifacts") { Description = "Artifacts folder when no --blob (default ~/.local/share/reel/artifacts)" };
        public readonly Option<DirectoryInfo?> State = new("--state") { Description = "Grain state folder when no --redis (serve's default ~/.local/share/reel/state; silo: in memory)" };
        public readonly Option<string?> ClusterId = new("--cluster-id") { Description = "Orleans cluster id (default: reel)" };
        public readonly Option<string?> ServiceId = new("--service-id") { Description = "Orleans service id (default: reel)" };
        public readonly Option<string?> AdvertiseIp = new("--advertise-ip") { Description = "The IP other silos and clients reach this one at" };
        public readonly Option<int?> SiloPort = new("--silo-port") { Description = "Silo-to-silo port (default 11111)" };
        public readonly Option<int?> GatewayPort = new("--gateway-port") { Description = "Client gateway port (default 30000)" };
        public readonly Option<int?> HttpPort = new("--http-port") { Description = "HTTP port: health, and the API where there is one (default 8080)" };
        public readonly Option<int?> ManagementPort = new("--management-port") { Description = "Metrics, drain and dashboard, on 127.0.0.1 unless Reel:ManagementAddress opens it (default 9464)" };
        public readonly Option<TimeSpan?> DrainTimeout = new("--drain-timeout") { Description = "How long a stopping model silo lets its sessions commit and move on (default 00:05:00)" };
        public readonly Option<bool> Dashboard = new("--dashboard") { Description = "Orleans' dashboard on the management port at /dashboard" };
        public readonly Option<int?> MaxSessions = new("--max-sessions") { Description = "Sessions a model silo runs at once, their steps batched (default 1)" };
        public readonly Option<int?> MaxBatch = new("--max-batch") { Description = "Chunks of one latent shape that take a denoising step together (default 1 on cpu, 8 on cuda)" };
        public readonly Option<MigrationPolicy?> Migration = new("--migration") { Description = "After each chunk: stay, balance (move to a less loaded silo) or always (default stay)" };
        public readonly Option<FileInfo?> Tenants = new("--tenants") { Description = "The tenants file of the HTTP API (default ~/.config/reel/tenants.json)" };
        public readonly Option<string[]> ImageUrlHosts = new("--image-url-hosts") { Description = "Hosts whose https image URLs input_reference may name (default none)", AllowMultipleArgumentsPerToken = true };
        public readonly Option<TimeSpan?> TestStepDelay = new("--test-step-delay") { Description = "Tests only: pause every denoising step", Hidden = true };
        public readonly ModelOptions ModelOptions = new();
    }

    public static Command Silo()
    {
        var o = new Options();
        var command = new Command("silo", "Run a cluster member: a model silo (--model) or a plain one")
        {
            o.Model, o.Pool, o.Redis, o.Blob, o.Artifacts, o.State, o.ClusterId, o.ServiceId, o.AdvertiseIp, o.SiloPort, o.GatewayPort, o.HttpPort, o.MaxSessions,
            o.MaxBatch, o.Migration, o.ManagementPort, o.DrainTimeout, o.Dashboard, o.TestStepDelay,
        };
        o.ModelOptions.AddTo(command);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(() => RunAsync(result, o, embedded: false, cancel)));
        return command;
    }

    public static Command Serve()
    {
        var o = new Options();
        var command = new Command("serve", "Run Reel in one process: a model silo on localhost, state and artifacts in folders")
        {
            o.Pool, o.Artifacts, o.State, o.SiloPort, o.GatewayPort, o.HttpPort, o.MaxSessions, o.MaxBatch, o.Tenants, o.ImageUrlHosts,
            o.ManagementPort, o.DrainTimeout, o.Dashboard, o.TestStepDelay,
        };
        o.ModelOptions.AddTo(command);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(() => RunAsync(result, o, embedded: true, cancel)));
        return command;
    }

    public static Command Gateway()
    {
        var o = new Options();
        var urls = new Option<string?>("--urls") { Description = "Where the API listens, ASP.NET Core style (default http://*:8080, or --http-port)" };
        var command = new Command("gateway", "Run the HTTP API alone against a Redis-clustered cluster")
        {
            o.Redis, o.Blob, o.Artifacts, o.Tenants, o.ImageUrlHosts, o.ClusterId, o.ServiceId, o.HttpPort, o.ManagementPort, urls,
        };
        command.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            await using var app = ReelHost.BuildGateway(options => ApplyShared(result, o, options), result.GetValue(urls));
            await ReelHost.StartAsync(app, cancel);
            Console.Error.WriteLine($"reel: gateway running ({string.Join(", ", app.Urls)}). Ctrl+C stops.");
            await app.WaitForShutdownAsync(cancel);
        }));
        return command;
    }

    /// <summary>
    /// <c>reel drain</c>: asks a running model silo, on its management port, to drain without exiting: it takes no new
    /// session and hands its running ones on after their current chunk (node maintenance). Exit 0 once it is empty.
    /// </summary>
    public static Command Drain()
    {
        var host = new Option<string>("--host") { Description = "The silo's address", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "The silo's management port (default 9464)", DefaultValueFactory = _ => 9464 };
        var token = new Option<string?>("--token")
        {
            Description = "The operator's token (Reel:OperatorToken); default the environment's REEL_OPERATOR_TOKEN",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("REEL_OPERATOR_TOKEN"),
        };
        var command = new Command("drain", "Drain a running model silo without stopping it") { host, port, token };
        command.SetAction((result, cancel) => CommandErrors.RunAsync(async () =>
        {
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            if (result.GetValue(token) is { Length: > 0 } secret) http.DefaultRequestHeaders.Authorization = new("Bearer", secret);
            HttpResponseMessage response;
            try
            {
                response = await http.PostAsync($"http://{result.GetValue(host)}:{result.GetValue(port)}/drain", null, cancel);
            }
            catch (HttpRequestException e)
            {
                throw new ReelConfigurationException($"No silo answers at {result.GetValue(host)}:{result.GetValue(port)}: {e.Message}");
            }
            if (response.StatusCode == System.Net.HttpStatusCode.Unauthorized)
                throw new ReelConfigurationException($"{result.GetValue(host)}:{result.GetValue(port)} wants the operator's token: --token or REEL_OPERATOR_TOKEN.");
            if (!response.IsSuccessStatusCode)
                throw new ReelConfigurationException($"{result.GetValue(host)}:{result.GetValue(port)} is not a model silo's management port ({(int)response.StatusCode}).");
            var body = await response.Content.ReadAsStringAsync(cancel);
            Console.WriteLine(body);
            if (!body.Contains("\"drained\":true", StringComparison.Ordinal)) throw new ReelConfigurationException("The drain timed out: sessions are still running there.");
        }));
        return command;
    }

    /// <summary>
    /// <c>reel serve</c> on a machine with no tenants yet: one tenant, <c>default</c>, whose key is printed once on
    /// stdout so the API can be called at once. Later starts print nothing.
    /// </summary>
    private static void FirstTenant(string path)
    {
        var tenants = TenantsFile.Read(path);
        if (tenants.Tenants.Count > 0) return;
        var (key, stored) = ApiKeys.Create();
        tenants.With(new Tenant { Name = "default", Keys = [stored] }).Write(path);
        Console.Error.WriteLine($"reel: created tenant 'default' in {path}; its API key (shown once, only its hash is kept):");
        Console.WriteLine(key);
    }

    /// <summary>The flags every process kind shares (where the cluster, its state and artifacts are; the HTTP side).</summary>
    private static void ApplyShared(ParseResult result, Options o, ReelSiloOptions options)
    {
        options.Redis = result.GetValue(o.Redis) ?? options.Redis;
        options.Blob = result.GetValue(o.Blob) ?? options.Blob;
        options.Artifacts = result.GetValue(o.Artifacts)?.FullName ?? options.Artifacts;
        options.Tenants = result.GetValue(o.Tenants)?.FullName ?? options.Tenants;
        if (result.GetValue(o.ImageUrlHosts) is { Length: > 0 } hosts) options.ImageUrlHosts = [.. hosts];
        options.ClusterId = result.GetValue(o.ClusterId) ?? options.ClusterId;
        options.ServiceId = result.GetValue(o.ServiceId) ?? options.ServiceId;
        options.HttpPort = result.GetValue(o.HttpPort) ?? options.HttpPort;
        options.ManagementPort = result.GetValue(o.ManagementPort) ?? options.ManagementPort;
        options.DrainTimeout = result.GetValue(o.DrainTimeout) ?? options.DrainTimeout;
        options.Dashboard = result.GetValue(o.Dashboard) || options.Dashboard;
    }

    private static async Task RunAsync(ParseResult result, Options o, bool embedded, CancellationToken cancel)
    {
        var model = o.ModelOptions;
        var (config, _) = model.Resolve(result, fasterDtypeAllowed: true);
        await using var app = ReelHost.Build(options =>
        {
            ApplyShared(result, o, options);
            options.Model = embedded || result.GetValue(o.Model) || options.Model;
            options.Pool = result.GetValue(o.Pool) ?? options.Pool;
            if (embedded) (options.Redis, options.Blob) = (null, null);
            options.State = result.GetValue(o.State)?.FullName ?? options.State ?? (embedded ? ReelSiloOptions.DataFolder("state") : null);
            options.AdvertiseIp = result.GetValue(o.AdvertiseIp) ?? options.AdvertiseIp;
            options.SiloPort = result.GetValue(o.SiloPort) ?? options.SiloPort;
            options.GatewayPort = result.GetValue(o.GatewayPort) ?? options.GatewayPort;
            options.MaxSessions = result.GetValue(o.MaxSessions) ?? options.MaxSessions;
            if (result.GetValue(o.MaxBatch) is { } maxBatch) options.MaxBatch = maxBatch;
            options.Migration = result.GetValue(o.Migration) ?? options.Migration;
            options.Weights = result.GetValue(model.Weights)?.FullName ?? options.Weights;
            options.Config = result.GetValue(model.Config) ?? options.Config;
            if (result.GetResult(model.Device) is { Implicit: false }) options.Device = result.GetValue(model.Device)!;
            if (result.GetResult(model.Dtype) is { Implicit: false }) options.Dtype = result.GetValue(model.Dtype)!;
            if (result.GetResult(model.Threads) is { Implicit: false }) options.Threads = result.GetValue(model.Threads);
            options.Gateway = embedded || options.Gateway;
            if (result.GetValue(o.TestStepDelay) is { } delay) options.SlowStepsForTests(delay);
        });
        var options = app.Services.GetRequiredService<ReelSiloOptions>();
        if (embedded) FirstTenant(options.Tenants ?? TenantDirectory.DefaultPath);
        await ReelHost.StartAsync(app, cancel);
        if (options.Model && options.Weights is null && (options.Config is not null || ModelSource.FindShipped() is null))
            Console.Error.WriteLine($"reel: using freshly initialised (untrained) '{config.Name}' weights: videos are noise until trained weights are given.");
        Console.Error.WriteLine($"reel: {(options.Model ? $"model silo of pool '{options.Pool}' ({config.Name})" : "plain silo")} running; " +
            $"health on http://localhost:{options.HttpPort}/healthz. Ctrl+C stops.");
        await app.WaitForShutdownAsync(cancel);
    }
}
