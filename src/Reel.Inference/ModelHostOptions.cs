using Reel.Model;

namespace Reel.Inference;

/// <summary>What a model silo loads and how it runs it.</summary>
public sealed record ModelHostOptions
{
    /// <summary>Weights folder; null uses <see cref="Config"/> (fresh weights) per the one rule in docs/contracts.md.</summary>
    public string? Weights { get; init; }

    /// <summary>Configuration for fresh weights when <see cref="Weights"/> is null. Default: the shipped rule's choice.</summary>
    public string? Config { get; init; }

    /// <summary>Device and dtype. Default cpu, float32.</summary>
    public ModelRuntime Runtime { get; init; } = new();

    /// <summary>
    /// Serve in whichever of float32 and bfloat16 this machine runs faster, measured when the host starts
    /// (<see cref="PrecisionProbe.Serving"/>); <see cref="Runtime"/>'s dtype is then ignored. Default false.
    /// </summary>
    public bool FasterDtype { get; init; }

    /// <summary>
    /// Chunks (of different sessions, with the same latent shape) that take a denoising step together in one DiT pass.
    /// Default 8; 1 runs every step alone.
    /// </summary>
    public int MaxBatch { get; init; } = 8;

    /// <summary>Torch threads of this process. Default 1 (one per silo in tests; set to the cores of a dedicated host).</summary>
    public int Threads { get; init; } = 1;
}
