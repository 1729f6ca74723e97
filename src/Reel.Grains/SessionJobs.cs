using Reel.Abstractions;
using Reel.Inference;
using Reel.Media;
using Reel.Model;
using Reel.Storage;
using static TorchSharp.torch;

namespace Reel.Grains;

/// <summary>
/// A session's job: its request as the model's one conditioning mechanism (<see cref="VideoJob"/>), and, for a loop
/// whose first pass is not made yet, the chunk of that pass (then <see cref="Job"/> is the pass's own job).
/// </summary>
public sealed record SessionJob(VideoJob Job, VideoSize Size, ChunkSpan? LoopHead) : IDisposable
{
    public void Dispose() => Job.Dispose();
}

/// <summary>
/// Builds a session's job from its request and inputs: uploads from the tenant's <c>uploads/</c>, and the tenant's
/// own completed videos (their latents when this silo's weights made them, else their MP4, encoded). A session builds
/// it on every activation; the same inputs give the same job, bit for bit, so a resumed session continues exactly.
/// </summary>
public sealed class SessionJobs(ModelHost host, IArtifactStore artifacts, IGrainFactory grains, string weightsHash)
{
    /// <summary>
    /// The job of <paramref name="request"/>; a loop needs the latents of its first pass (<paramref name="loopHead"/>),
    /// and without them the job is that pass. Throws <see cref="ModelException"/> or <see cref="MediaException"/> for
    /// inputs the model cannot use.
    /// </summary>
    public async Task<SessionJob> PrepareAsync(SessionKey key, VideoRequest request, Tensor? loopHead, CancellationToken cancel)
    {
        var config = (await host.Loaded).Config;
        var folder = Directory.CreateTempSubdirectory("reel-inputs-");
        var sources = new List<Source>();
        var pixels = new List<Tensor?>();
        try
        {
            // Extensions and edits work on latents; connections join the sources' own frames; images are frames.
            foreach (var input in request.Inputs)
                sources.Add(await FetchAsync(key, input, wantLatents: input == request.Extend || input == request.Edit, folder.FullName, cancel));
            var inputSize = sources.FirstOrDefault() is { } first ? await SizeOfAsync(config, first, cancel) : (VideoSize?)null;
            var generation = GenerationRequests.From(request, config, inputSize);
            var size = generation.Size;
            if (sources.FirstOrDefault()?.Latents is { } latents && SizeOf(config, latents) != size)
                throw new ModelException($"The video keeps its size {SizeOf(config, latents)}; {size} was asked for.");
            foreach (var source in sources) pixels.Add(await PixelsAsync(source, request.Image is not null, size, config.FrameRate, cancel));
            var strength = request.Strength ?? VideoModes.DefaultEditStrength;
            return await host.Enqueue(model =>
            {
                var generator = new VideoGenerator(model);
                var modes = new VideoModes(generator, config);
                Tensor Latents(int i) => sources[i].Latents?.alias() ?? modes.Encode(pixels[i]!);
                if (request.Loop && loopHead is null)
                {
                    var (start, chunk) = modes.LoopHead(generation, pixels.FirstOrDefault());
                    return new SessionJob(start, size, chunk);
                }
                VideoJob job;
                if (request.Loop) job = modes.Loop(generation, loopHead!);
                else if (request.Image is not null) job = modes.ImageToVideo(generation, pixels[0]!);
                else if (request.Extend is not null)
                {
                    using var source = Latents(0);
                    job = modes.Continue(generation, source, generation.Frames - 1);
                }
                else if (request.Edit is not null)
                {
                    using var source = Latents(0);
                    job = modes.EditLatents(generation, source, strength);
                }
                else if (request.Connect.Count == 2) job = modes.Connect(generation, pixels[0]!, pixels[1]!, generation.Frames - 1);
                else job = VideoModes.TextToVideo(generation);
                VideoGenerator.Validate(config, job.Request);
                return new SessionJob(job, size, null);
            }, cancel);
        }
        finally
        {
            foreach (var source in sources) source.Latents?.Dispose();
            foreach (var tensor in pixels) tensor?.Dispose();
            folder.Delete(recursive: true);
        }
    }

    /// <summary>An input as latents (a video of this tenant made with these weights) or as a file in <paramref name="folder"/>.</summary>
    private sealed record Source(Tensor? Latents, string? Path);

    private async Task<Source> FetchAsync(SessionKey key, MediaInput input, bool wantLatents, string folder, CancellationToken cancel)
    {
        if (input.Video is { } video)
        {
            // Tenants reach only their own videos: another tenant's key names nothing here.
            var snapshot = video.Tenant == key.Tenant ? await SourceStatusAsync(video) : null;
            if (snapshot is not { Status: SessionStatus.Completed })
                throw new ModelException($"Video {video.VideoId} is not a completed video of this tenant.");
            if (wantLatents && snapshot.WeightsHash == weightsHash && await artifacts.ReadAllBytesAsync(SessionArtifacts.Latents(video), cancel) is { } bytes)
                return new Source(LatentsFile.FromBytes(bytes), null);
            return new Source(null, await DownloadAsync(SessionArtifacts.Video(video), folder, cancel)
                ?? throw new ModelException($"Video {video.VideoId} has no MP4 to start from."));
        }
        var upload = input.Upload is { } name ? ArtifactName.Parse(name) : throw new ModelException("An input names neither a video nor an upload.");
        if (!SessionArtifacts.IsUploadOf(key.Tenant, upload)) throw new ModelException("An input is not one of this tenant's uploads.");
        return new Source(null, await DownloadAsync(upload, folder, cancel) ?? throw new ModelException("An uploaded input is gone."));
    }

    private async Task<SessionSnapshot?> SourceStatusAsync(SessionKey video)
    {
        try
        {
            return await grains.GetGrain<IGenerationSessionGrain>(video.ToString()).GetStatus();
        }
        catch (OrleansException)
        {
            // Its weights are served nowhere any more (placement finds no silo): the video cannot be read.
            return null;
        }
    }

    private async Task<string?> DownloadAsync(ArtifactName name, string folder, CancellationToken cancel)
    {
        await using var stream = await artifacts.OpenReadAsync(name, cancel);
        if (stream is null) return null;
        var path = System.IO.Path.Combine(folder, $"{Guid.NewGuid():N}{System.IO.Path.GetExtension(name.Value)}");
        await using var file = File.Create(path);
        await stream.CopyToAsync(file, cancel);
        return path;
    }

    /// <summary>The size a source asks for: its latents' own, else the model's size nearest its aspect ratio.</summary>
    private static async Task<VideoSize> SizeOfAsync(ModelConfig config, Source source, CancellationToken cancel)
    {
        if (source.Latents is { } latents) return SizeOf(config, latents);
        var info = await MediaReader.ProbeAsync(source.Path!, cancel: cancel);
        var aspect = Math.Log((double)info.Width / info.Height);
        return config.Sizes.MinBy(s => Math.Abs(Math.Log((double)s.Width / s.Height) - aspect));
    }

    private static VideoSize SizeOf(ModelConfig config, Tensor latents) =>
        new((int)latents.shape[4] * config.SpatialCompression, (int)latents.shape[3] * config.SpatialCompression);

    /// <summary>A file source's frames [1, 3, T, H, W] at the output size (an image as one frame); null for latents.</summary>
    private static async Task<Tensor?> PixelsAsync(Source source, bool image, VideoSize size, int fps, CancellationToken cancel)
    {
        if (source.Path is not { } path) return null;
        IReadOnlyList<RgbFrame> frames = image
            ? [await MediaReader.ReadImageAsync(path, size.Width, size.Height, cancel: cancel)]
            : await MediaReader.ReadVideoAsync(path, size.Width, size.Height, fps, cancel: cancel);
        return FrameTensors.ToVideo(frames);
    }
}
