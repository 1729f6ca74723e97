using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;
using System.Diagnostics.Metrics;
using Reel.Inference;
using Reel.Model;

namespace Reel.Grains;

/// <summary>
/// A model silo's supervisor: loads the model when the silo starts, then reports this silo's load to its pool
/// periodically, on every slot change and on every cluster membership change. Each report makes the pool reconcile its
/// index of unfinished sessions (those of departed silos resume on live ones), so a death declared by membership, or a
/// restart of the process, resumes sessions within one report. A silo whose weights failed to load never reports,
/// so it gets no sessions.
/// </summary>
public sealed partial class ModelSiloSupervisor(
    ModelHost host, ModelSiloOptions options, ModelSiloSlots slots, ILocalSiloDetails silo, IGrainFactory grains,
    IClusterMembershipService membership, ILogger<ModelSiloSupervisor> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        ServedModel served;
        try
        {
            var model = await host.Loaded.WaitAsync(stopping);
            var config = model.Config;
            LogServing(options.Pool, config.Name, ModelRuntime.DtypeName(model.Runtime.Dtype), host.MaxBatch, host.DtypeTiming?.ToString() ?? "as configured");
            served = new ServedModel(config.Name, [.. config.Sizes.Select(s => s.ToString())], config.SizeMultiple, config.FrameRate, config.MaxSeconds, config.Durations);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            LogLoadFailed(e, options.Pool);
            return;
        }
        using var running = ReelTelemetry.ReportRunning(this, () => [new(slots.Running.Count, new KeyValuePair<string, object?>("pool", options.Pool))]);
        var changed = new SemaphoreSlim(0);
        void OnChanged() => changed.Release();
        slots.Changed += OnChanged;
        var watching = WatchMembershipAsync(OnChanged, stopping);
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    var load = new SiloLoad(silo.SiloAddress, options.Pool, options.WeightsHash, options.MaxSessions, slots.Running, slots.Draining, DateTimeOffset.UtcNow, served);
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
            await watching;
        }
    }

    private async Task WatchMembershipAsync(Action onChange, CancellationToken stopping)
    {
        try
        {
            await foreach (var _ in membership.MembershipUpdates.WithCancellation(stopping)) onChange();
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(LogLevel.Critical, "The model failed to load: this silo takes no sessions of pool {Pool}")]
    private partial void LogLoadFailed(Exception e, string pool);

    [LoggerMessage(LogLevel.Information, "Serving pool {Pool}: model {Model} in {Dtype}, steps batched up to {MaxBatch} chunks (dtype: {Choice})")]
    private partial void LogServing(string pool, string model, string dtype, int maxBatch, string choice);

    [LoggerMessage(LogLevel.Debug, "Load report to the pool failed: {Reason}")]
    private partial void LogReportFailed(string reason);
}
