using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Reel.Model;
using Reel.World;
using TorchSharp;
using static TorchSharp.torch;

namespace Reel.Training;

/// <summary>
/// Same-sized training clips as normalised latents [B, C, T, h, w] with their captions. <see cref="Pixels"/> gives clip
/// i's frames [1, 3, T', H, W] for the encodes that blank some frames (the ends mode).
/// </summary>
public sealed class LatentBatch(Tensor latents, string[] captions, Func<int, Tensor> pixels, IDisposable? owned = null) : IDisposable
{
    public Tensor Latents { get; } = latents;
    public string[] Captions { get; } = captions;
    public Tensor Pixels(int clip) => pixels(clip);

    public void Dispose()
    {
        Latents.Dispose();
        owned?.Dispose();
    }
}

/// <summary>Where the DiT's training clips come from; a step's clips are decided by the step alone.</summary>
public interface ITrainingClips
{
    /// <summary>The clips of <paramref name="step"/>, each at least <paramref name="latentFrames"/> latent frames long.</summary>
    LatentBatch At(int step, int batchSize, int latentFrames);

    /// <summary>The world's clips behind <see cref="At"/> (scenes and captions), rendered again.</summary>
    IReadOnlyList<WorldClip> Scenes(int step, int batchSize);
}

/// <summary>Renders and encodes every batch as it comes: no storage, and no clip is seen twice.</summary>
public sealed class RenderedClips(ReelModel model, WorldBatches batches) : ITrainingClips
{
    public LatentBatch At(int step, int batchSize, int latentFrames)
    {
        var batch = batches.At(step, batchSize, latentFrames);
        return new LatentBatch(model.EncodeLatents(batch.Video), batch.Captions, i => batch.Video[i..(i + 1)], batch);
    }

    public IReadOnlyList<WorldClip> Scenes(int step, int batchSize) => batches.Clips(step, batchSize, model.Config.ChunkLatentFrames);
}

/// <summary>
/// World clips encoded once by the frozen VAE and kept in a folder, so training reads latents instead of rendering and
/// encoding every batch (here the encode cost about as much as the DiT's step). The folder is named by a hash of
/// everything that decides its contents — VAE, latent statistics, world, sizes, clip length, count and seed — so a
/// changed recipe never reads a stale cache. Clip i of a size is the world's clip of seed (seed, size, i), and is
/// re-rendered when its pixels are asked for. Clips are stored in shards so no file outgrows a .NET array.
/// </summary>
public sealed class LatentCache : ITrainingClips, IDisposable
{
    private const int ShardClips = 2048, EncodeBatch = 32;
    private readonly ModelConfig _config;
    private readonly WorldOptions _world;
    private readonly ulong _seed;
    private readonly Dictionary<VideoSize, (Tensor Latents, string[] Captions)> _clips = [];
    private readonly WorldBatches _draws;

    private LatentCache(ModelConfig config, WorldOptions world, IReadOnlyList<VideoSize> sizes, int clipsPerSize, int latentFrames, ulong seed)
    {
        (_config, _world, _seed, ClipsPerSize, LatentFrames) = (config, world, seed, clipsPerSize, latentFrames);
        _draws = new WorldBatches(config, seed, world, [.. sizes]);
    }

    /// <summary>~/.cache/reel/latents: outside the repository, shared by runs of the same recipe.</summary>
    public static string DefaultRoot { get; } =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reel", "latents");

    public int ClipsPerSize { get; }
    public int LatentFrames { get; }
    public string Folder { get; private set; } = "";

    /// <summary>
    /// The cache under <paramref name="root"/> for these clips, encoded now (with the VAE in <paramref name="encodeType"/>)
    /// if it is not there yet. The VAE's precision changes the latents, so it is part of the name.
    /// </summary>
    public static LatentCache Open(ReelModel model, string root, WorldOptions world, IReadOnlyList<VideoSize> sizes, int clipsPerSize,
        int latentFrames, ulong seed, ScalarType encodeType, Action<string>? log = null)
    {
        var cache = new LatentCache(model.Config, world, sizes, clipsPerSize, latentFrames, seed);
        var key = JsonSerializer.Serialize(new
        {
            vae = model.Manifest.VaeHash, model.Manifest.LatentMean, model.Manifest.LatentStd, world, sizes = sizes.Select(s => s.ToString()),
            clipsPerSize, latentFrames, seed, encode = encodeType.ToString(), frameRate = model.Config.FrameRate,
        });
        cache.Folder = Path.Combine(root, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16]);
        if (!File.Exists(Path.Combine(cache.Folder, "complete"))) cache.Encode(model, sizes, encodeType, key, log);
        foreach (var size in sizes)
        {
            var shards = Enumerable.Range(0, (clipsPerSize + ShardClips - 1) / ShardClips)
                .Select(s => LatentsFile.FromBytes(File.ReadAllBytes(ShardPath(cache.Folder, size, s)))).ToList();
            var captions = JsonSerializer.Deserialize<string[]>(File.ReadAllText(CaptionsPath(cache.Folder, size)))!;
            cache._clips[size] = (cat(shards, 0), captions);
            shards.ForEach(s => s.Dispose());
        }
        return cache;
    }

    public LatentBatch At(int step, int batchSize, int latentFrames)
    {
        if (latentFrames > LatentFrames) throw new ModelException($"The cache holds {LatentFrames} latent frames per clip, not {latentFrames}.");
        var (size, picks) = Picks(step, batchSize);
        var (latents, captions) = _clips[size];
        using var index = tensor(picks.Select(p => (long)p).ToArray());
        var chosen = latents.index_select(0, index);
        var window = chosen[.., .., ..latentFrames].clone();
        chosen.Dispose();
        return new LatentBatch(window, picks.Select(p => captions[p]).ToArray(), i => Render(size, picks[i]));
    }

    public IReadOnlyList<WorldClip> Scenes(int step, int batchSize)
    {
        var (size, picks) = Picks(step, batchSize);
        return picks.Select(p => Clip(size, p)).ToList();
    }

    /// <summary>The size and clips of a step (the same draws whatever the batch size, seeded by the step).</summary>
    private (VideoSize Size, int[] Picks) Picks(int step, int batchSize)
    {
        var random = _draws.Random(step, 0);
        var size = random.Pick(_draws.Sizes);
        return (size, Enumerable.Range(0, batchSize).Select(_ => random.Next(ClipsPerSize)).ToArray());
    }

    private WorldClip Clip(VideoSize size, int clip) =>
        ProceduralWorld.Sample(ClipSeed(size, clip), size.Width, size.Height, FrameCount.ToPixel(_config, LatentFrames), _config.FrameRate, _world);

    private Tensor Render(VideoSize size, int clip) => WorldBatches.ToVideo([Clip(size, clip).Frames]);

    private ulong ClipSeed(VideoSize size, int clip) => ChunkPlanner.ChunkSeed(_seed ^ ((ulong)size.Width << 40) ^ ((ulong)size.Height << 24), clip);

    private void Encode(ReelModel model, IReadOnlyList<VideoSize> sizes, ScalarType encodeType, string key, Action<string>? log)
    {
        // An encode that was stopped keeps the shards it finished, and one of the same recipe goes on after them: a
        // cache of three sizes takes hours on a CPU, longer than a working period may last.
        var partial = Folder + ".partial";
        var keyPath = Path.Combine(partial, "key.json");
        if (Directory.Exists(partial) && (!File.Exists(keyPath) || File.ReadAllText(keyPath) != key)) Directory.Delete(partial, true);
        Directory.CreateDirectory(partial);
        File.WriteAllText(keyPath, key);
        var clock = Stopwatch.StartNew();
        var vaeType = model.Vae.parameters().First().dtype;
        // Casting down and back would round the VAE's weights in place, and checkpoints and exports would then save a
        // different VAE (one the DiT's manifest no longer names): the exact weights are put back afterwards.
        var weights = model.Vae.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
        model.Vae.to(encodeType);
        try
        {
            foreach (var size in sizes)
            {
                var captions = new List<string>();
                for (var first = 0; first < ClipsPerSize; first += ShardClips)
                {
                    var count = Math.Min(ShardClips, ClipsPerSize - first);
                    var path = ShardPath(partial, size, first / ShardClips);
                    if (File.Exists(path))
                    {
                        captions.AddRange(Enumerable.Range(first, count).Select(i => Clip(size, i).Caption));
                        log?.Invoke($"latent cache: {size} {first + count}/{ClipsPerSize} clips already encoded");
                        continue;
                    }
                    var shard = new List<Tensor>();
                    for (var start = first; start < first + count; start += EncodeBatch)
                    {
                        var clips = Enumerable.Range(start, Math.Min(EncodeBatch, first + count - start)).Select(i => Clip(size, i)).ToArray();
                        using var video = WorldBatches.ToVideo(clips.Select(c => c.Frames).ToArray());
                        shard.Add(model.EncodeLatents(video));
                        captions.AddRange(clips.Select(c => c.Caption));
                        if (captions.Count % 1024 == 0) log?.Invoke($"latent cache: {size} {captions.Count}/{ClipsPerSize} clips, {clock.Elapsed.TotalSeconds:0} s");
                    }
                    using (var all = cat(shard, 0)) File.WriteAllBytes(path + ".tmp", LatentsFile.ToBytes(all));
                    File.Move(path + ".tmp", path, overwrite: true);
                    shard.ForEach(s => s.Dispose());
                }
                File.WriteAllText(CaptionsPath(partial, size), JsonSerializer.Serialize(captions));
            }
        }
        finally
        {
            model.Vae.to(vaeType);
            model.Vae.load_state_dict(weights);
            foreach (var weight in weights.Values) weight.Dispose();
        }
        File.WriteAllText(Path.Combine(partial, "complete"), "");
        if (Directory.Exists(Folder)) Directory.Delete(Folder, true);
        Directory.Move(partial, Folder);
        log?.Invoke($"latent cache: {sizes.Count * ClipsPerSize} clips encoded in {clock.Elapsed.TotalSeconds:0} s into {Folder}");
    }

    private static string ShardPath(string folder, VideoSize size, int shard) => Path.Combine(folder, $"latents-{size}-{shard}.safetensors");
    private static string CaptionsPath(string folder, VideoSize size) => Path.Combine(folder, $"captions-{size}.json");

    public void Dispose()
    {
        foreach (var (latents, _) in _clips.Values) latents.Dispose();
    }
}
