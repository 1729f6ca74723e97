using Microsoft.Extensions.Logging;
using Reel.Inference;

namespace Reel.Grains;

/// <summary>
/// Drains a model silo (docs/contracts.md, "Drain"): it takes no new session, each running one commits its current
/// chunk and moves to a silo of the pool with its weights that is not draining (or waits for the pool to resume it),
/// and the drain ends when no session runs here or the timeout passes. On SIGTERM before the silo stops; by `reel
/// drain` for maintenance, the silo staying up and empty.
/// </summary>
public sealed partial class ModelSiloDrain(ModelSiloSlots slots, ILogger<ModelSiloDrain> logger)
{
    /// <summary>True when every session left within <paramref name="timeout"/>.</summary>
    public async Task<bool> DrainAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (slots.Running.Count == 0) idle.TrySetResult();
        }
        slots.Changed += Check;
        try
        {
            var running = slots.Running.Count;
            LogDraining(running, timeout.TotalSeconds);
            ReelTelemetry.Drains.Add(1);
            slots.Drain();
            Check();
            var drained = await Task.WhenAny(idle.Task, Task.Delay(timeout, cancel)) == idle.Task;
            if (drained) LogDrained(running);
            else LogDrainTimedOut(slots.Running.Count);
            return drained;
        }
        finally
        {
            slots.Changed -= Check;
        }
    }

    [LoggerMessage(LogLevel.Information, "Draining: {Running} session(s) finish their chunk and move on (at most {Seconds} s)")]
    private partial void LogDraining(int running, double seconds);

    [LoggerMessage(LogLevel.Information, "Drained: {Moved} session(s) handed on")]
    private partial void LogDrained(int moved);

    [LoggerMessage(LogLevel.Warning, "Drain timed out with {Left} session(s) still here; they resume from their last commit elsewhere")]
    private partial void LogDrainTimedOut(int left);
}
