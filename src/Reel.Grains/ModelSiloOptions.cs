using Reel.Abstractions;

namespace Reel.Grains;

/// <summary>How a model silo takes sessions (docs/contracts.md, "reel silo").</summary>
public sealed class ModelSiloOptions
{
    /// <summary>The pool this silo serves. Default <c>default</c>.</summary>
    public string Pool { get; set; } = "default";

    /// <summary>Sessions this silo runs at once; more wait in the pool's queue. Default 1.</summary>
    public int MaxSessions { get; set; } = 1;

    /// <summary>The hash of the weights this silo loaded; set by the host from the weights folder, never by hand.</summary>
    public string WeightsHash { get; set; } = "";

    /// <summary>How often the silo publishes its load to its pool (it also does on every change). Default 2 s.</summary>
    public TimeSpan LoadReportPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Whether a session moves to another model silo of its pool after a commit. Default stay.</summary>
    public MigrationPolicy Migration { get; set; } = MigrationPolicy.Stay;

    /// <summary>
    /// How long a session waits out an unreachable state or artifact store before its video fails (Reel:StoreOutageBudget).
    /// Default 10 min.
    /// </summary>
    public TimeSpan StoreOutageBudget { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Test setting: a pause in every denoising step, so that a test can act while a chunk runs. Default none.</summary>
    public TimeSpan StepDelay { get; set; } = TimeSpan.Zero;
}
