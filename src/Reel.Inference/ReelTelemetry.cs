using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Reel.Inference;

/// <summary>
/// Reel's own metrics and traces (docs/contracts.md, "Metrics"): the meter and activity source <c>Reel</c>. Gauges read
/// what registered sources report at scrape time, so a pool's queue depth comes only from the silo hosting that pool.
/// </summary>
public static class ReelTelemetry
{
    public const string Name = "Reel";

    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);

    public static readonly Histogram<double> ChunkDuration = Meter.CreateHistogram<double>("reel.chunk.duration", "s", "Time to generate one chunk's latents");
    public static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("reel.denoising_step.duration", "s", "Time of one denoising step");
    public static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("reel.denoising_step.batch", "{chunk}", "Chunks that took one denoising step together");
    public static readonly Counter<long> FramesGenerated = Meter.CreateCounter<long>("reel.frames.generated", "{frame}", "Frames of finished videos");
    public static readonly Counter<long> SessionFailures = Meter.CreateCounter<long>("reel.session.failures", "{session}", "Sessions that failed");
    public static readonly Counter<long> SessionResumes = Meter.CreateCounter<long>("reel.session.resumes", "{session}", "Sessions continued from a commit on a new activation");
    public static readonly Counter<long> Drains = Meter.CreateCounter<long>("reel.drains", "{drain}", "Drains of model silos");

    private static readonly ConcurrentDictionary<object, Func<IEnumerable<Measurement<int>>>> QueueSources = new();
    private static double? _modelLoadSeconds;
    private static readonly ConcurrentDictionary<object, Func<IEnumerable<Measurement<int>>>> RunningSources = new();

    static ReelTelemetry()
    {
        Meter.CreateObservableGauge("reel.pool.queue_depth", () => QueueSources.Values.SelectMany(f => f()), "{session}",
            "Sessions waiting in a pool's admission queue (per tenant where tenant metrics are on)");
        Meter.CreateObservableGauge("reel.sessions.running", () => RunningSources.Values.SelectMany(f => f()), "{session}",
            "Sessions running on a model silo");
        // A gauge, not a histogram: the load happens once, often before the metrics pipeline listens.
        Meter.CreateObservableGauge<double>("reel.model.load.duration", () => _modelLoadSeconds is { } seconds ? [new Measurement<double>(seconds)] : [],
            "s", "Time this silo took to load its weights");
    }

    public static void ModelLoaded(TimeSpan took) => _modelLoadSeconds = took.TotalSeconds;

    /// <summary>Whether metrics carry tenant names (<c>Reel:TenantMetrics</c>): off by default, tenants are not an operator's metrics label.</summary>
    public static bool TenantLabels { get; set; }

    /// <summary>A pool grain reports its queue (tag <c>pool</c>, and <c>tenant</c> with <see cref="TenantLabels"/>) while it is active here.</summary>
    public static IDisposable ReportQueue(object owner, Func<IEnumerable<Measurement<int>>> measure) => Register(QueueSources, owner, measure);

    /// <summary>A model silo reports its running sessions (tag <c>pool</c>).</summary>
    public static IDisposable ReportRunning(object owner, Func<IEnumerable<Measurement<int>>> measure) => Register(RunningSources, owner, measure);

    private static IDisposable Register(ConcurrentDictionary<object, Func<IEnumerable<Measurement<int>>>> sources, object owner, Func<IEnumerable<Measurement<int>>> measure)
    {
        sources[owner] = measure;
        return new Unregister(() => sources.TryRemove(owner, out _));
    }

    private sealed class Unregister(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
