using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;

namespace Reel.Cli;

/// <summary>An Orleans client of a Reel cluster for a command (a benchmark, <c>reel tenants usage</c>): sessions by key.</summary>
public sealed class ClusterClient(IHost host) : IAsyncDisposable
{
    public ReelSessions Sessions { get; } = new(host.Services.GetRequiredService<IClusterClient>());

    /// <summary>The cluster's grains, for what <see cref="Sessions"/> does not cover (management, where activations live).</summary>
    public IGrainFactory Grains => host.Services.GetRequiredService<IClusterClient>();

    /// <summary>Connects with <paramref name="connect"/>'s clustering to the cluster Reel's processes form by default (cluster and service id <c>reel</c>).</summary>
    public static async Task<ClusterClient> ConnectAsync(Action<IClientBuilder> connect, CancellationToken cancel)
    {
        var builder = Host.CreateApplicationBuilder();
        // Connection warnings (a benchmark kills servers on purpose) would bury the command's own output.
        builder.Logging.ClearProviders();
        // A status check answers in milliseconds; a call stuck on a killed gateway must not hide a failover for 30 s.
        builder.UseOrleansClient(c =>
        {
            connect(c);
            c.Configure<Orleans.Configuration.ClusterOptions>(o => (o.ClusterId, o.ServiceId) = ("reel", "reel"));
            c.Configure<Orleans.Configuration.ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(2));
        });
        var host = builder.Build();
        // The client keeps trying an unreachable gateway: a command gives up after a while with a message.
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        patience.CancelAfter(TimeSpan.FromSeconds(20));
        try
        {
            await host.StartAsync(patience.Token);
        }
        catch (Exception e) when (e is OrleansException or System.Net.Sockets.SocketException or TimeoutException
            or OperationCanceledException && !cancel.IsCancellationRequested)
        {
            host.Dispose();
            throw new Hosting.ReelConfigurationException($"The cluster cannot be reached (is it running?): {e.Message}");
        }
        return new ClusterClient(host);
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await host.StopAsync(stop.Token);
        }
        catch (OperationCanceledException)
        {
            // The server it talked to may be gone.
        }
        host.Dispose();
    }
}
