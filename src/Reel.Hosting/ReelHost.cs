using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Orleans.Configuration;
using Orleans.Dashboard;
using Reel.Abstractions;
using Reel.Gateway;
using Reel.Inference;

namespace Reel.Hosting;

/// <summary>
/// The one host every Reel process kind runs: a silo (model or plain) with its HTTP port. <c>reel serve</c> is this
/// host as a single model silo with no external service; <c>reel silo</c> is it as a cluster member.
/// </summary>
public static class ReelHost
{
    /// <summary>Options from the <c>Reel</c> configuration section (appsettings.json, environment), then <paramref name="overrides"/> (flags).</summary>
    public static WebApplication Build(Action<ReelSiloOptions> overrides)
    {
        var (builder, options) = Start(overrides);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Any, options.HttpPort);
            k.Listen(IPAddress.Parse(options.ManagementAddress), options.ManagementPortOrDefault);
        });
        // A stopping model silo drains first: the host waits for that, and a little more for Orleans to stop.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout + TimeSpan.FromSeconds(30));
        builder.UseOrleans(silo =>
        {
            silo.AddActivityPropagation();
            if (options.Dashboard) silo.AddDashboard();
            silo.Configure<ClusterOptions>(c => (c.ClusterId, c.ServiceId) = (options.ClusterId, options.ServiceId));
            if (options.SiloName is { } name) silo.Configure<SiloOptions>(o => o.SiloName = name);
            // Failure detection is Orleans' own: its settings stay Orleans' names (Orleans:Membership:ProbeTimeout, ...).
            silo.Services.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection("Orleans:Membership"));
            if (options.Redis is { } redis)
            {
                silo.UseRedisClustering(redis);
                if (options.AdvertiseIp is { } ip)
                    silo.ConfigureEndpoints(IPAddress.Parse(ip), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: true);
                else
                    silo.ConfigureEndpoints(options.SiloPort, options.GatewayPort);
            }
            else
            {
                silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, serviceId: options.ServiceId, clusterId: options.ClusterId);
            }
            silo.AddReel(options);
        });
        if (options.Gateway) builder.Services.AddReelGateway(options.GatewayOptions);
        if (options.Model) builder.Services.AddHostedService<ReelManagement.DrainOnStop>();
        var app = builder.Build();
        app.MapGet("/healthz", Health);
        app.MapReelManagement(options);
        if (options.Gateway) app.MapReelGateway();
        return app;
    }

    /// <summary>
    /// How soon a gateway learns of a silo that joined (Orleans' default is a minute). A rollout that stops the old
    /// silos sooner than this after the new ones are ready leaves the gateway knowing only silos that are gone: every
    /// request answers 503 until its next refresh. The chart's <c>minReadySeconds</c> is twice this.
    /// </summary>
    public static readonly TimeSpan GatewayListRefreshPeriod = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <c>reel gateway</c>: the HTTP API alone, an Orleans client of a Redis-clustered cluster, reading content from
    /// the cluster's artifact store. <paramref name="urls"/> (ASP.NET Core's form) or else the HTTP port.
    /// </summary>
    public static WebApplication BuildGateway(Action<ReelSiloOptions> overrides, string? urls)
    {
        // It serves the API: its management port is never the API's.
        var (builder, options) = Start(o =>
        {
            overrides(o);
            o.Gateway = true;
        });
        var redis = options.Redis ?? throw new ReelConfigurationException("reel gateway needs --redis: the cluster it reaches.");
        var management = $"http://{Bracketed(options.ManagementAddress)}:{options.ManagementPortOrDefault}";
        if (urls is not null) builder.WebHost.UseUrls($"{urls};{management}");
        else builder.WebHost.UseUrls($"http://*:{options.HttpPort};{management}");
        builder.UseOrleansClient(client => client.UseRedisClustering(redis).AddActivityPropagation()
            .Configure<ClusterOptions>(c => (c.ClusterId, c.ServiceId) = (options.ClusterId, options.ServiceId))
            .Configure<Orleans.Configuration.GatewayOptions>(g => g.GatewayListRefreshPeriod = GatewayListRefreshPeriod));
        builder.Services.AddArtifactStore(options);
        builder.Services.AddReelGateway(options.GatewayOptions);
        var app = builder.Build();
        app.MapReelManagement(options);
        app.MapReelGateway();
        return app;
    }

    /// <summary>
    /// Starts a host built here once the stores its options name answer (<see cref="StoreChecks"/>): settings that cannot
    /// work end the start with a <see cref="ReelConfigurationException"/> before any silo or client starts.
    /// </summary>
    public static async Task StartAsync(WebApplication app, CancellationToken cancel)
    {
        await StoreChecks.RequireAsync(app.Services.GetRequiredService<ReelSiloOptions>(), cancel);
        await app.StartAsync(cancel);
    }

    private static string Bracketed(string address) => IPAddress.Parse(address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address;

    /// <summary>What every Reel process shares: options from configuration then flags, and logging to stderr.</summary>
    private static (WebApplicationBuilder Builder, ReelSiloOptions Options) Start(Action<ReelSiloOptions> overrides)
    {
        var builder = WebApplication.CreateSlimBuilder();
        var options = new ReelSiloOptions();
        builder.Configuration.GetSection("Reel").Bind(options);
        overrides(options);
        options.Validate();
        // Orleans and ASP.NET Core log every request and membership step at Information: keep Reel's own lines readable.
        // Logs go to stderr: stdout is for what a command prints as its result.
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("Orleans", LogLevel.Warning).AddFilter("Polly", LogLevel.Warning);
        builder.Services.AddSingleton(options);
        builder.Services.AddReelTelemetry();
        return (builder, options);
    }

    /// <summary>200 once the silo can serve (a model silo: its weights are loaded); 503 while loading or after a failed load.</summary>
    private static IResult Health(ReelSiloOptions options, IServiceProvider services)
    {
        if (!options.Model) return Results.Ok(new { status = "ok", role = SiloMetadataKeys.PlainRole });
        var loaded = services.GetRequiredService<ModelHost>().Loaded;
        return loaded.Status switch
        {
            TaskStatus.RanToCompletion => Results.Ok(new
            {
                status = "ok", role = SiloMetadataKeys.ModelRole, pool = options.Pool,
                weights = services.GetRequiredService<Reel.Grains.ModelSiloOptions>().WeightsHash,
                dtype = Reel.Model.ModelRuntime.DtypeName(loaded.Result.Runtime.Dtype),
            }),
            TaskStatus.Faulted => Results.Json(new { status = "failed", error = loaded.Exception!.InnerException!.Message }, statusCode: 503),
            _ => Results.Json(new { status = "loading" }, statusCode: 503),
        };
    }
}
