using System.Text.Json.Nodes;
using Reel.Model;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Reel.Tests;

public class WeightsTests
{
    private static float DitOutput(ReelModel model, DiffusionTransformer? dit = null)
    {
        using var x = TestModels.Noise(21, 1, 4, 2, 8, 8);
        using var caption = model.CaptionEncoder.Encode(["a green triangle"]);
        using var v = (dit ?? model.Dit).forward(x, full(1, 2, 0.7f), caption.Tokens, caption.Mask);
        return v.sum().item<float>();
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Saved_weights_load_back_identically_and_the_folder_hash_is_stable()
    {
        using var model = TestModels.Active(seed: 3);
        var (a, b) = (TestModels.TempFolder(), TestModels.TempFolder());
        model.Save(a);
        model.Save(b);
        Assert.Equal(WeightsFolder.ContentHash(a), WeightsFolder.ContentHash(b));
        Assert.StartsWith("sha256:", WeightsFolder.ContentHash(a));
        using var loaded = ReelModel.Load(a);
        Assert.Equal(WeightsFolder.ContentHash(a), loaded.WeightsHash);
        Assert.Equal(DitOutput(model), DitOutput(loaded));
        using var video = TestModels.Noise(22, 1, 3, 5, 32, 32);
        using var original = model.EncodeLatents(video);
        using var reloaded = loaded.EncodeLatents(video);
        Assert.Equal(LatentDigest.Of(original), LatentDigest.Of(reloaded));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void The_tiny_preset_is_the_configuration_the_shipped_folder_was_trained_with()
    {
        var shipped = WeightsFolder.ReadManifest(Path.Combine(TestModels.RepositoryRoot(), "models", "tiny")).Config;
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(shipped), System.Text.Json.JsonSerializer.Serialize(ModelConfig.Tiny));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Different_weights_have_different_hashes()
    {
        using var one = TestModels.Active(seed: 3);
        using var two = TestModels.Active(seed: 4);
        var (a, b) = (TestModels.TempFolder(), TestModels.TempFolder());
        one.Save(a);
        two.Save(b);
        Assert.NotEqual(WeightsFolder.ContentHash(a), WeightsFolder.ContentHash(b));
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Sampling_uses_the_ema_weights_when_the_folder_has_them()
    {
        using var model = TestModels.Active(seed: 3);
        using var ema = TestModels.Active(seed: 5);
        var folder = TestModels.TempFolder();
        model.Save(folder);
        ema.Dit.save_safetensors(Path.Combine(folder, WeightsFolder.DitEmaFile));
        using var loaded = ReelModel.Load(folder);
        Assert.Equal(DitOutput(loaded, ema.Dit), DitOutput(loaded));
        Assert.NotEqual(DitOutput(loaded, model.Dit), DitOutput(loaded));
    }

    [Fact]
    public void A_packed_folder_holds_the_ema_dit_in_float16_and_loads_into_float32_close_to_it()
    {
        using var model = TestModels.Active(seed: 3);
        using var ema = TestModels.Active(seed: 5);
        var (folder, packed) = (TestModels.TempFolder(), Path.Combine(TestModels.TempFolder(), "packed"));
        model.Save(folder);
        ema.Dit.save_safetensors(Path.Combine(folder, WeightsFolder.DitEmaFile));
        var run = ReelProcess.Run("weights", "pack", folder, packed);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains(WeightsFolder.ContentHash(packed), run.Stdout);
        Assert.False(File.Exists(Path.Combine(packed, WeightsFolder.DitEmaFile)));
        Assert.Equal(ScalarType.Float16, WeightsFolder.StoredType(Path.Combine(packed, WeightsFolder.DitFile)));
        Assert.Equal(ScalarType.Float32, WeightsFolder.StoredType(Path.Combine(packed, WeightsFolder.VaeFile)));
        using var loaded = ReelModel.Load(packed);
        Assert.All(loaded.Dit.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        var (exact, shipped) = (DitOutput(loaded, ema.Dit), DitOutput(loaded));
        Assert.NotEqual(exact, shipped);
        Assert.True(Math.Abs(exact - shipped) < 1e-2 * Math.Max(1, Math.Abs(exact)), $"{exact} vs {shipped}");
        Assert.Equal(1, ReelProcess.Run("weights", "pack", folder, packed).ExitCode);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void A_dit_paired_with_another_vae_is_refused()
    {
        using var model = TestModels.Active(seed: 3);
        using var other = TestModels.Active(seed: 6);
        var (folder, otherFolder) = (TestModels.TempFolder(), TestModels.TempFolder());
        model.Save(folder);
        other.Save(otherFolder);
        File.Copy(Path.Combine(otherFolder, WeightsFolder.VaeFile), Path.Combine(folder, WeightsFolder.VaeFile), overwrite: true);
        var error = Assert.Throws<ModelException>(() => ReelModel.Load(folder));
        Assert.Contains("was trained with VAE", error.Message);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Weights_of_another_shape_are_refused_naming_the_tensor_and_both_shapes()
    {
        using var model = TestModels.Active();
        var folder = TestModels.TempFolder();
        model.Save(folder);
        var path = Path.Combine(folder, WeightsFolder.ManifestFile);
        var manifest = JsonNode.Parse(File.ReadAllText(path))!;
        manifest["config"]!["ditWidth"] = 64;
        File.WriteAllText(path, manifest.ToJsonString());
        var error = Assert.Throws<ModelException>(() => ReelModel.Load(folder));
        Assert.Contains("dit.safetensors does not match configuration 'test'", error.Message);
        Assert.Contains("x_embedder.weight has shape [32, 16] but configuration 'test' expects [64, 16]", error.Message);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void A_missing_file_is_named()
    {
        using var model = TestModels.Active();
        var folder = TestModels.TempFolder();
        model.Save(folder);
        File.Delete(Path.Combine(folder, WeightsFolder.CaptionEncoderFile));
        Assert.Contains("caption-encoder.safetensors' is missing", Assert.Throws<ModelException>(() => ReelModel.Load(folder)).Message);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Corrupt_files_are_refused_with_a_message()
    {
        using var model = TestModels.Active();
        var folder = TestModels.TempFolder();
        model.Save(folder);
        File.WriteAllBytes(Path.Combine(folder, WeightsFolder.DitFile), [1, 2, 3]);
        Assert.Contains("not a safetensors file", Assert.Throws<ModelException>(() => ReelModel.Load(folder)).Message);
        File.WriteAllText(Path.Combine(folder, WeightsFolder.ManifestFile), "{ not json");
        Assert.Contains("not a valid weights manifest", Assert.Throws<ModelException>(() => ReelModel.Load(folder)).Message);
        Assert.Contains("does not exist", Assert.Throws<ModelException>(() => ReelModel.Load(Path.Combine(folder, "nope"))).Message);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Choosing_weights_follows_the_one_rule()
    {
        using var model = TestModels.Active();
        var folder = TestModels.TempFolder();
        model.Save(folder);
        using (var fromFolder = ModelSource.Open(folder, null, new ModelRuntime())) Assert.Equal(WeightsFolder.ContentHash(folder), fromFolder.WeightsHash);
        using (var fresh = ModelSource.Open(null, "test", new ModelRuntime())) Assert.Null(fresh.WeightsHash);
        Assert.Contains("contradicts", Assert.Throws<ModelException>(() => ModelSource.Open(folder, "tiny", new ModelRuntime())).Message);
        Assert.Contains("Known: test, tiny, small, base", Assert.Throws<ModelException>(() => ModelSource.Open(null, "huge", new ModelRuntime())).Message);
    }

    [Trait(Tier.Name, Tier.Fast)]
    [Fact]
    public void Bfloat16_runs_and_stays_close_to_float32()
    {
        using var model = TestModels.Active();
        var folder = TestModels.TempFolder();
        model.Save(folder);
        using var bf16 = ReelModel.Load(folder, new ModelRuntime(Dtype: ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, bf16.Dit.parameters().First().dtype);
        var (full32, half) = (DitOutput(model), DitOutput(bf16));
        Assert.True(Math.Abs(full32 - half) < 0.05 * Math.Max(1, Math.Abs(full32)), $"{full32} vs {half}");
        Assert.Throws<ModelException>(() => ModelRuntime.ParseDtype("float16"));
        Assert.Throws<ModelException>(() => new ModelRuntime("cuda").ResolveDevice());
    }
}
