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

    /// <summary>The configuration <see cref="Open"/> would use, read without loading any weights.</summary>
    public static ModelConfig ConfigFor(string? weights, string? config)
    {
        if (weights is not null)
        {
            var manifest = WeightsFolder.ReadManifest(weights);
            if (config is not null && config != manifest.Config.Name)
                throw new ModelException($"--config {config} contradicts --weights {weights}, which holds configuration '{manifest.Config.Name}'.");
            return manifest.Config;
        }
        if (config is null && FindShipped() is { } shipped) return WeightsFolder.ReadManifest(shipped).Config;
        return ModelConfig.Named(config ?? ShippedConfig);
    }

    public static ReelModel Open(string? weights, string? config, ModelRuntime runtime, Action<string>? note = null)
    {
        ConfigFor(weights, config);
        if (weights is not null) return ReelModel.Load(weights, runtime);
        if (config is null && FindShipped() is { } shipped) return ReelModel.Load(shipped, runtime);
        var fresh = ModelConfig.Named(config ?? ShippedConfig);
        note?.Invoke(config is null
            ? $"No trained '{ShippedConfig}' weights found: using freshly initialised (untrained) '{ShippedConfig}' weights."
            : $"Using freshly initialised (untrained) '{fresh.Name}' weights (--config without --weights).");
        return ReelModel.Create(fresh, runtime);
    }

    /// <summary>
    /// The hash identifying the weights <see cref="Open"/> would load: the folder's content hash, or for fresh weights
    /// (deterministic per configuration) a hash of the configuration's name.
    /// </summary>
    public static string WeightsHash(string? weights, string? config)
    {
        ConfigFor(weights, config);
        if (weights is not null) return WeightsFolder.ContentHash(weights);
        if (config is null && FindShipped() is { } shipped) return WeightsFolder.ContentHash(shipped);
        var name = System.Text.Encoding.UTF8.GetBytes("fresh " + (config ?? ShippedConfig));
        return "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(name));
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
