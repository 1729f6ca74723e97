using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;
using Reel.Storage;

namespace Reel.Grains;

/// <summary>Thrown when a store stayed out longer than the outage budget; <see cref="Code"/> names which.</summary>
[GenerateSerializer]
public sealed class StoreUnavailableException(string code, string message) : Exception(message)
{
    [Id(0)] public string Code { get; } = code;
}

/// <summary>
/// Rides out an outage of the state store (Redis) or the artifact store (blobs): a session's durable write that fails
/// for want of its store is retried with back-off (0.5 s doubling to 15 s) until it lands or the budget
/// (<see cref="ModelSiloOptions.StoreOutageBudget"/>) is spent; only then does the video fail, with a code naming the
/// store (docs/contracts.md, "Store outages"). Any other failure passes straight through.
/// </summary>
public sealed partial class StoreOutages(ModelSiloOptions options, ILogger<StoreOutages> logger)
{
    public const string StateStore = "state_store_unavailable";
    public const string ArtifactStore = "artifact_store_unavailable";

    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(15);

    public async Task RunAsync(Func<Task> write, string what, CancellationToken cancel = default)
    {
        var started = Stopwatch.GetTimestamp();
        var pause = FirstPause;
        while (true)
        {
            try
            {
                await write();
                return;
            }
            catch (Exception e) when (StoreOf(e) is { } code && !cancel.IsCancellationRequested)
            {
                var waited = Stopwatch.GetElapsedTime(started);
                if (waited + pause > options.StoreOutageBudget)
                    throw new StoreUnavailableException(code, $"The {(code == StateStore ? "state store" : "artifact store")} was unreachable for {waited.TotalSeconds:0} s.");
                LogWaiting(what, code, pause.TotalSeconds, e.Message);
                await Task.Delay(pause, cancel);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestPause.Ticks));
            }
        }
    }

    /// <summary>
    /// Which store an exception says is out, or null when it is not an outage. The grains do not know which provider
    /// backs them, and a failure inside another grain (the video's record) comes back across a grain call, so the
    /// exception chain is read by type name: StackExchange.Redis (and Orleans' Redis storage) for the state store,
    /// Azure's transport and server-side failures for the artifact store.
    /// </summary>
    public static string? StoreOf(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            var type = (e is UnavailableExceptionFallbackException fallback ? fallback.ExceptionType : e.GetType().FullName) ?? "";
            if (type.StartsWith("StackExchange.Redis.", StringComparison.Ordinal) || type.Contains("Redis", StringComparison.Ordinal)) return StateStore;
            if (BlobArtifactStore.IsOutage(e) || e is UnavailableExceptionFallbackException && type == "Azure.RequestFailedException")
                return ArtifactStore;
        }
        return null;
    }

    [LoggerMessage(LogLevel.Warning, "{What}: {Code}, retrying in {Seconds} s ({Reason})")]
    private partial void LogWaiting(string what, string code, double seconds, string reason);
}
