using System.Runtime.CompilerServices;
using Reel.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Reel.Tests;

/// <summary>Models for tests: the tiny `test` configuration, with its zero-initialised layers given small random values
/// so that the DiT predicts non-zero velocities (a fresh DiT predicts exactly zero, which would hide bugs).</summary>
public static class TestModels
{
    [ModuleInitializer]
    internal static void PinThreads() => set_num_threads(2);

    public static ModelConfig Config => ModelConfig.Test;

    public static ReelModel Active(ulong seed = 1, ModelConfig? config = null)
    {
        var model = ReelModel.Create(config ?? Config, seed: seed);
        using var noGrad = no_grad();
        var generator = new Generator(seed + 1000, CPU);
        foreach (var p in model.Dit.parameters().Where(p => p.abs().max().item<float>() == 0))
            p.copy_(randn(p.shape, generator: generator) * 0.05);
        return model;
    }

    public static Tensor Noise(ulong seed, params long[] shape) => randn(shape, generator: new Generator(seed, CPU));

    public static string TempFolder()
    {
        var path = Path.Combine(Path.GetTempPath(), "reel-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>The repository the tests were built from (charts, deploy, the conformance script live there).</summary>
    public static string RepositoryRoot()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Orleans.sln"))) folder = folder.Parent;
        return folder?.FullName ?? throw new InvalidOperationException("The tests do not run inside the repository.");
    }

    public static float MaxDifference(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    /// <summary>The session a video id names (its artifacts live under it).</summary>
    public static string SessionOf(string videoId) => videoId[Reel.Abstractions.SessionKey.VideoIdPrefix.Length..];
}
