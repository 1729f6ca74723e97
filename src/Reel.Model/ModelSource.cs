using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>
/// Which weights a command uses (docs/contracts.md): <c>--weights DIR</c> uses that folder and its configuration;
/// <c>--config NAME</c> alone uses fresh weights of that configuration; neither uses the shipped <c>tiny</c> weights
/// (<c>$REEL_MODELS/tiny</c>, else <c>models/tiny</c> in the checkout), or fresh <c>tiny</c> weights until those exist.
/// </summary>
public static class ModelSource
{
    public const string ShippedConfig = "tiny";

    public static ReelModel Open(string? weights, string? config, ModelRuntime runtime, Action<string>? note = null)
    {
        if (weights is not null)
        {
            var manifest = WeightsFolder.ReadManifest(weights);
            if (config is not null && config != manifest.Config.Name)
                throw new ModelException($"--config {config} contradicts --weights {weights}, which holds configuration '{manifest.Config.Name}'.");
            return ReelModel.Load(weights, runtime);
        }
        if (config is not null) return ReelModel.Create(ModelConfig.Named(config), runtime);
        var shipped = FindShipped();
        if (shipped is not null) return ReelModel.Load(shipped, runtime);
        note?.Invoke($"No shipped '{ShippedConfig}' weights found: using fresh (untrained) '{ShippedConfig}' weights.");
        return ReelModel.Create(ModelConfig.Named(ShippedConfig), runtime);
    }

    public static string? FindShipped()
    {
        var root = Environment.GetEnvironmentVariable("REEL_MODELS");
        if (root is not null) return Existing(Path.Combine(root, ShippedConfig));
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Existing(Path.Combine(dir.FullName, "models", ShippedConfig)) is { } found) return found;
        return null;
    }

    private static string? Existing(string folder) => File.Exists(Path.Combine(folder, WeightsFolder.ManifestFile)) ? folder : null;
}

/// <summary>SHA-256 of a tensor's float32 values: how runs compare latents bit for bit.</summary>
public static class LatentDigest
{
    public static string Of(Tensor t)
    {
        using var values = t.detach().to(ScalarType.Float32).cpu().contiguous();
        var bytes = MemoryMarshal.AsBytes(values.data<float>().ToArray().AsSpan());
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
    }
}
