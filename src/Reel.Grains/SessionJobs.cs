using Reel.Abstractions;
using Reel.Inference;
using Reel.Media;
using Reel.Model;
using Reel.Requests;
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
        var inputs = new List<CompilerInput>();
        try
        {
            foreach (var (input, i) in request.Inputs.Select((input, i) => (input, i)))
                inputs.Add(await FetchAsync(key, input, RequestCompiler.WantsLatents(request, input), RequestCompiler.Describes(request, i), folder.FullName, cancel));
            using var compiled = await RequestCompiler.CompileAsync(request, config, inputs, cancel);
            return await host.Enqueue(model =>
            {
                var modes = new VideoModes(new VideoGenerator(model), config);
                if (compiled.Mode == VideoMode.Loop && loopHead is null)
                {
                    var (start, chunk) = RequestCompiler.LoopHead(compiled, modes);
                    return new SessionJob(start, compiled.Generation.Size, chunk);
                }
                return new SessionJob(RequestCompiler.Build(compiled, modes, loopHead), compiled.Generation.Size, null);
            }, cancel);
        }
        finally
        {
            foreach (var input in inputs) input.Dispose();
            folder.Delete(recursive: true);
        }
    }

    /// <summary>
    /// An input as latents (a video of this tenant made with these weights) or as a file in <paramref name="folder"/>;
    /// latents to be <paramref name="describe"/>d come with their MP4, which the prompt expansion reads.
    /// </summary>
    private async Task<CompilerInput> FetchAsync(SessionKey key, MediaInput input, bool wantLatents, bool describe, string folder, CancellationToken cancel)
    {
        if (input.Video is { } video)
        {
            // Tenants reach only their own videos: another tenant's key names nothing here.
            var snapshot = video.Tenant == key.Tenant ? await SourceStatusAsync(video) : null;
            if (snapshot is not { Status: SessionStatus.Completed })
                throw new ModelException($"Video {video.VideoId} is not a completed video of this tenant.");
            if (wantLatents && snapshot.WeightsHash == weightsHash && await artifacts.ReadAllBytesAsync(SessionArtifacts.Latents(video), cancel) is { } bytes)
                return new CompilerInput(LatentsFile.FromBytes(bytes), describe ? await DownloadAsync(SessionArtifacts.Video(video), folder, cancel) : null);
            return new CompilerInput(null, await DownloadAsync(SessionArtifacts.Video(video), folder, cancel)
                ?? throw new ModelException($"Video {video.VideoId} has no MP4 to start from."));
        }
        var upload = input.Upload is { } name ? ArtifactName.Parse(name) : throw new ModelException("An input names neither a video nor an upload.");
        if (!SessionArtifacts.IsUploadOf(key.Tenant, upload)) throw new ModelException("An input is not one of this tenant's uploads.");
        return new CompilerInput(null, await DownloadAsync(upload, folder, cancel) ?? throw new ModelException("An uploaded input is gone."));
    }

    /// <summary>The source video's record: whatever weights made it, its record and artifacts are readable.</summary>
    private Task<SessionSnapshot?> SourceStatusAsync(SessionKey video) => grains.GetGrain<IVideoGrain>(video.VideoGrainKey).Get();

    private async Task<string?> DownloadAsync(ArtifactName name, string folder, CancellationToken cancel)
    {
        await using var stream = await artifacts.OpenReadAsync(name, cancel);
        if (stream is null) return null;
        var path = System.IO.Path.Combine(folder, $"{Guid.NewGuid():N}{System.IO.Path.GetExtension(name.Value)}");
        await using var file = File.Create(path);
        await stream.CopyToAsync(file, cancel);
        return path;
    }
}
