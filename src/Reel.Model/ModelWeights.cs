using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>
/// config.json of a weights folder: the configuration and everything learned that is not a tensor.
/// </summary>
public sealed record WeightsManifest
{
    public int Format { get; init; } = 1;
    public required ModelConfig Config { get; init; }

    /// <summary>Per-channel statistics of the VAE's latents; the DiT works on (z − mean) / std.</summary>
    public required float[] LatentMean { get; init; }
    public required float[] LatentStd { get; init; }

    /// <summary>The caption encoder's words, in id order after the reserved tokens.</summary>
    public required string[] Vocabulary { get; init; }

    /// <summary>SHA-256 of the vae.safetensors the DiT was trained with.</summary>
    public required string VaeHash { get; init; }

    public static WeightsManifest Fresh(ModelConfig config) => new()
    {
        Config = config,
        LatentMean = new float[config.LatentChannels],
        LatentStd = Enumerable.Repeat(1f, config.LatentChannels).ToArray(),
        Vocabulary = CaptionVocabulary.Default,
        VaeHash = "",
    };

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };
}

/// <summary>
/// The on-disk layout of one model version: config.json plus one safetensors file per network.
/// The folder's content hash identifies the weights everywhere (silo metadata, outputs, logs).
/// </summary>
public static class WeightsFolder
{
    public const string ManifestFile = "config.json";
    public const string VaeFile = "vae.safetensors";
    public const string DitFile = "dit.safetensors";
    public const string DitEmaFile = "dit-ema.safetensors";
    public const string CaptionEncoderFile = "caption-encoder.safetensors";

    private static readonly string[] HashedFiles = [ManifestFile, VaeFile, DitFile, DitEmaFile, CaptionEncoderFile];

    public static WeightsManifest ReadManifest(string folder)
    {
        var path = Path.Combine(folder, ManifestFile);
        if (!Directory.Exists(folder)) throw new ModelException($"Weights folder '{folder}' does not exist.");
        if (!File.Exists(path)) throw new ModelException($"Weights folder '{folder}' has no {ManifestFile}.");
        WeightsManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<WeightsManifest>(File.ReadAllText(path), WeightsManifest.Json);
        }
        catch (JsonException e)
        {
            throw new ModelException($"{path} is not a valid weights manifest: {e.Message}");
        }
        if (manifest is null) throw new ModelException($"{path} is empty.");
        if (manifest.Format != 1) throw new ModelException($"{path} has format {manifest.Format}; this build reads format 1.");
        manifest.Config.Validate();
        if (manifest.LatentMean.Length != manifest.Config.LatentChannels || manifest.LatentStd.Length != manifest.Config.LatentChannels)
            throw new ModelException($"{path}: latent statistics need {manifest.Config.LatentChannels} channels.");
        return manifest;
    }

    public static void WriteManifest(string folder, WeightsManifest manifest) =>
        File.WriteAllText(Path.Combine(folder, ManifestFile), JsonSerializer.Serialize(manifest, WeightsManifest.Json));

    /// <summary>SHA-256 over each present file's name and SHA-256, in a fixed order: "sha256:" + 64 hex digits.</summary>
    public static string ContentHash(string folder)
    {
        var text = new StringBuilder();
        foreach (var name in HashedFiles.Where(n => File.Exists(Path.Combine(folder, n))))
            text.Append(name).Append(' ').Append(FileHash(Path.Combine(folder, name))).Append('\n');
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    public static string FileHash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Tensor names and shapes from a safetensors header, without reading the data.</summary>
    public static Dictionary<string, long[]> ReadShapes(string path) =>
        ReadHeader(path).ToDictionary(p => p.Key, p => p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray());

    private static Dictionary<string, JsonElement> ReadHeader(string path)
    {
        if (!File.Exists(path)) throw new ModelException($"Weights file '{path}' is missing.");
        using var stream = File.OpenRead(path);
        Span<byte> prefix = stackalloc byte[8];
        if (stream.Read(prefix) != 8) throw new ModelException($"{path} is not a safetensors file (too short).");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)Math.Min(stream.Length - 8, 100_000_000))
            throw new ModelException($"{path} is not a safetensors file (bad header length).");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        try
        {
            using var json = JsonDocument.Parse(header);
            var tensors = json.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__").ToDictionary(p => p.Name, p => p.Value.Clone());
            foreach (var entry in tensors.Values)
                if (entry.GetProperty("shape") is not { ValueKind: JsonValueKind.Array } shape || shape.EnumerateArray().Any(d => d.ValueKind != JsonValueKind.Number)
                    || entry.GetProperty("dtype").ValueKind != JsonValueKind.String)
                    throw new InvalidOperationException("an entry lacks its shape or dtype");
            return tensors;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ModelException($"{path} is not a safetensors file (bad header: {e.Message}).");
        }
    }

    /// <summary>The precision a safetensors file stores its tensors in (one for the whole file, as this project writes them).</summary>
    public static ScalarType StoredType(string path)
    {
        var types = ReadHeader(path).Select(p => p.Value.GetProperty("dtype").GetString()).Distinct().ToList();
        return types switch
        {
            ["F32"] => ScalarType.Float32,
            ["F16"] => ScalarType.Float16,
            ["BF16"] => ScalarType.BFloat16,
            _ => throw new ModelException($"{path} stores {string.Join(", ", types)}; weights files hold one of F32, F16 or BF16."),
        };
    }

    /// <summary>Throws a message naming every tensor whose presence or shape differs from what the configuration builds.</summary>
    public static void RequireShapes(string path, IReadOnlyDictionary<string, long[]> expected, string configName)
    {
        var actual = ReadShapes(path);
        var problems = new List<string>();
        foreach (var (name, shape) in expected)
        {
            if (!actual.TryGetValue(name, out var found)) problems.Add($"{name} is missing");
            else if (!found.SequenceEqual(shape))
                problems.Add($"{name} has shape [{string.Join(", ", found)}] but configuration '{configName}' expects [{string.Join(", ", shape)}]");
        }
        problems.AddRange(actual.Keys.Except(expected.Keys).Select(name => $"{name} is not part of configuration '{configName}'"));
        if (problems.Count > 0)
            throw new ModelException($"{Path.GetFileName(path)} does not match configuration '{configName}': "
                + string.Join("; ", problems.Take(5)) + (problems.Count > 5 ? $"; and {problems.Count - 5} more" : "") + ".");
    }
}
