using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Orleans.Dashboard;
using Reel.Grains;
using Reel.Inference;

namespace Reel.Hosting;

/// <summary>
/// What operators use and tenants never see (docs/contracts.md, "Management port"): OpenTelemetry metrics as
/// Prometheus text at /metrics, POST /drain on model silos, Orleans' dashboard when switched on; all of it answered
/// only on the management port. Traces (Reel's spans, Orleans' grain calls, ASP.NET Core requests) go to an OTLP
/// collector when OTEL_EXPORTER_OTLP_ENDPOINT is set.
/// </summary>
public static class ReelManagement
{
    public static void AddReelTelemetry(this IServiceCollection services)
    {
        var otlp = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 };
        services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics.AddMeter(ReelTelemetry.Name, "Microsoft.Orleans").AddAspNetCoreInstrumentation().AddPrometheusExporter())
            .WithTracing(tracing =>
            {
                tracing.AddSource(ReelTelemetry.Name, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application").AddAspNetCoreInstrumentation();
                if (otlp) tracing.AddOtlpExporter();
            });
    }

    /// <summary>
    /// The management endpoints: metrics, the dashboard when switched on, and a model silo's drain — answered on the
    /// management port only, which answers nothing else (no health, API or page).
    /// </summary>
    public static void MapReelManagement(this WebApplication app, ReelSiloOptions options)
    {
        var port = options.ManagementPortOrDefault;
        bool OnManagementPort(HttpContext http) => http.Connection.LocalPort == port;
        static bool Managing(PathString path) => path == "/metrics" || path == "/drain" || path.StartsWithSegments("/dashboard");
        app.Use((http, next) =>
        {
            if (OnManagementPort(http) == Managing(http.Request.Path)) return next(http);
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        app.UseOpenTelemetryPrometheusScrapingEndpoint(http => http.Request.Path == "/metrics" && OnManagementPort(http));
        if (options.Dashboard) app.MapOrleansDashboard("/dashboard");
        if (!options.Model) return;
        app.MapPost("/drain", async (HttpContext http, ModelSiloDrain drain, CancellationToken cancel) =>
        {
            if (!Operator(http, options)) return Results.Json(new { error = "POST /drain needs the operator's token (Reel:OperatorToken) as a bearer token." }, statusCode: 401);
            var drained = await drain.DrainAsync(options.DrainTimeout, cancel);
            return Results.Ok(new { drained, running = app.Services.GetRequiredService<ModelSiloSlots>().Running.Count });
        }).ExcludeFromDescription();
    }

    /// <summary>The caller may drain: it shows the operator's token, or — when none is set — it calls from this machine.</summary>
    private static bool Operator(HttpContext http, ReelSiloOptions options)
    {
        if (options.OperatorToken is not { } token) return http.Connection.RemoteIpAddress is { } remote && System.Net.IPAddress.IsLoopback(remote);
        var header = http.Request.Headers.Authorization.ToString();
        var given = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(token));
    }

    /// <summary>
    /// The drain on SIGTERM: a host's lifecycle services all finish <c>StoppingAsync</c> before any service stops, so the
    /// silo still serves while its sessions commit their chunk and move on (grains would be deactivated, not moved, once
    /// Orleans stops). At most the drain timeout; the host waits that long and a little more.
    /// </summary>
    public sealed class DrainOnStop(ModelSiloDrain drain, ReelSiloOptions options) : IHostedLifecycleService
    {
        public Task StoppingAsync(CancellationToken cancellationToken) => drain.DrainAsync(options.DrainTimeout, cancellationToken);

        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
