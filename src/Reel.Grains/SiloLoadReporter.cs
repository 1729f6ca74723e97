using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;
using Reel.Inference;

namespace Reel.Grains;

/// <summary>
/// Loads the model when the silo starts, then publishes this model silo's load to its pool's admission queue
/// periodically and on every slot change. A silo whose weights failed to load never reports, so it gets no sessions.
/// </summary>
public sealed partial class SiloLoadReporter(
    ModelHost host, ModelSiloOptions options, ModelSiloSlots slots, ILocalSiloDetails silo, IGrainFactory grains, ILogger<SiloLoadReporter> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        try
        {
            await host.Loaded.WaitAsync(stopping);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            LogLoadFailed(e, options.Pool);
            return;
        }
        var changed = new SemaphoreSlim(0);
        void OnChanged() => changed.Release();
        slots.Changed += OnChanged;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    var load = new SiloLoad(silo.SiloAddress, options.Pool, options.WeightsHash, options.MaxSessions, slots.Running, false, DateTimeOffset.UtcNow);
                    await grains.GetGrain<IPoolGrain>(options.Pool).Report(load);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Until the silo has joined (and while the pool grain moves) reports fail; the next one retries.
                    LogReportFailed(e.Message);
                }
                try
                {
                    await changed.WaitAsync(options.LoadReportPeriod, stopping);
                    while (changed.CurrentCount > 0) await changed.WaitAsync(stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        finally
        {
            slots.Changed -= OnChanged;
        }
    }

    [LoggerMessage(LogLevel.Critical, "The model failed to load: this silo takes no sessions of pool {Pool}")]
    private partial void LogLoadFailed(Exception e, string pool);

    [LoggerMessage(LogLevel.Debug, "Load report to the pool failed: {Reason}")]
    private partial void LogReportFailed(string reason);
}
