using Microsoft.AspNetCore.Http;
using Reel.Abstractions;
using Reel.Media;
using Reel.Storage;

namespace Reel.Gateway;

/// <summary>The gateway's settings (docs/contracts.md, "Gateway").</summary>
public sealed class GatewayOptions
{
    /// <summary>The tenants file. Default <c>tenants.json</c> in Reel's data folder.</summary>
    public required string TenantsFile { get; init; }

    /// <summary>
    /// Hosts whose <c>https</c> URLs <c>input_reference[image_url]</c> may name; the gateway fetches nothing else. Default
    /// none: only uploads and <c>data:</c> URLs.
    /// </summary>
    public IReadOnlyList<string> ImageUrlHosts { get; init; } = [];

    /// <summary>The key content URLs are signed with; null draws a random one per process (URLs then work only on this replica).</summary>
    public byte[]? ContentUrlKey { get; init; }

    /// <summary>How long a signed content URL works. Default 10 min.</summary>
    public TimeSpan ContentUrlLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a read (a video, a list, the start of a download) may wait on the cluster or the artifact store before
    /// it answers 503. Default 2 s.
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>A source video and its length (what an edit of it is charged against the tenant's seconds per day).</summary>
public sealed record SourceVideo(MediaInput Input, double Seconds);

/// <summary>
/// A request's inputs: uploads and <c>data:</c>/allow-listed image URLs are checked (they must be the picture or video
/// they claim) and stored under the tenant's <c>uploads/</c>; video ids must name the tenant's own completed videos.
/// </summary>
public sealed class RequestInputs(IArtifactStore artifacts, ReelSessions sessions, GatewayOptions options)
{
    private static readonly HttpClient Remote = new() { Timeout = TimeSpan.FromSeconds(15) };

    /// <summary>The image of <c>input_reference</c>: an uploaded file, or <c>input_reference[image_url]</c>; null when absent.</summary>
    public async Task<MediaInput?> ImageAsync(Tenant tenant, RequestFields form, CancellationToken cancel)
    {
        const string param = "input_reference";
        if (form.Has($"{param}[file_id]"))
            throw new ApiException(ApiError.Invalid("Reel has no Files API: upload the image as 'input_reference', or give input_reference[image_url].", param, "unsupported"));
        if (form.File(param) is { } file)
        {
            await using var content = file.OpenReadStream();
            return (await UploadAsync(tenant, content, MediaKind.Image, param, null, cancel)).Input;
        }
        if (form[$"{param}[image_url]"] is not { } url)
            return form.Has(param) ? throw new ApiException(ApiError.Invalid($"'{param}' must be an uploaded image or {{\"image_url\": ...}}.", param, "invalid_value")) : null;
        var bytes = await ImageUrlAsync(url, $"{param}[image_url]", cancel);
        using var stream = new MemoryStream(bytes);
        return (await UploadAsync(tenant, stream, MediaKind.Image, param, null, cancel)).Input;
    }

    /// <summary>The video of <c>video</c>: an uploaded file, or <c>video[id]</c> naming one of the tenant's completed videos.</summary>
    public async Task<SourceVideo> VideoAsync(Tenant tenant, RequestFields form, ServedModel? served, CancellationToken cancel)
    {
        const string param = "video";
        if (form.File(param) is { } file)
        {
            await using var content = file.OpenReadStream();
            var (upload, info) = await UploadAsync(tenant, content, MediaKind.Video, param, served, cancel);
            return new SourceVideo(upload, info.Duration.TotalSeconds);
        }
        if ((form[$"{param}[id]"] ?? form[param]) is { } id) return await VideoIdAsync(tenant, id, $"{param}[id]");
        throw new ApiException(ApiError.Invalid("'video' is required: upload a video file, or give video[id] of a completed video.", param, "missing_required_parameter"));
    }

    /// <summary>One of the tenant's completed videos by id: 404 for any other (another tenant's too), 409 while it is not completed.</summary>
    public async Task<SourceVideo> VideoIdAsync(Tenant tenant, string id, string param)
    {
        if (await sessions.GetAsync(tenant.Name, id) is not { } source) throw new ApiException(ApiError.NotFound(id, param));
        if (source.Status != SessionStatus.Completed)
            throw new ApiException(ApiError.Conflict($"Video '{id}' is not completed; only a completed video can be a source.", "video_not_ready"));
        return new SourceVideo(MediaInput.Of(source.Key), source.Seconds ?? 0);
    }

    private async Task<byte[]> ImageUrlAsync(string url, string param, CancellationToken cancel)
    {
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var comma = url.IndexOf(',');
            if (comma < 0 || !url[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                throw new ApiException(ApiError.Invalid("A data: URL must be base64 (data:image/png;base64,...).", param, "invalid_value"));
            try
            {
                return Convert.FromBase64String(url[(comma + 1)..]);
            }
            catch (FormatException)
            {
                throw new ApiException(ApiError.Invalid("The data: URL's base64 is damaged.", param, "invalid_value"));
            }
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            throw new ApiException(ApiError.Invalid("'image_url' must be a data: URL or an https URL.", param, "invalid_value"));
        if (!options.ImageUrlHosts.Contains(uri.Host, StringComparer.OrdinalIgnoreCase))
            throw new ApiException(ApiError.Invalid($"This gateway fetches no images from '{uri.Host}': upload the image or send a data: URL.", param, "image_url_not_allowed"));
        try
        {
            using var response = await Remote.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancel);
            if (!response.IsSuccessStatusCode)
                throw new ApiException(ApiError.Invalid($"Fetching the image answered {(int)response.StatusCode}.", param, "image_url_unreadable"));
            await using var body = await response.Content.ReadAsStreamAsync(cancel);
            return await ReadLimitedAsync(body, param, cancel);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancel.IsCancellationRequested)
        {
            throw new ApiException(ApiError.Invalid($"The image could not be fetched: {e.Message}", param, "image_url_unreadable"));
        }
    }

    private static async Task<byte[]> ReadLimitedAsync(Stream body, string param, CancellationToken cancel)
    {
        using var copy = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(buffer, cancel)) > 0)
        {
            copy.Write(buffer, 0, read);
            if (copy.Length > GatewayEndpoints.MaxBodyBytes)
                throw new ApiException(ApiError.TooLarge($"'{param}' is larger than {GatewayEndpoints.MaxBodyBytes / (1024 * 1024)} MB."));
        }
        return copy.ToArray();
    }

    /// <summary>Checks that the content is a readable <paramref name="kind"/> (ffprobe), then stores it as the tenant's upload.</summary>
    private async Task<(MediaInput Input, MediaInfo Info)> UploadAsync(Tenant tenant, Stream content, MediaKind kind, string param, ServedModel? served, CancellationToken cancel)
    {
        var folder = Directory.CreateTempSubdirectory("reel-upload-");
        try
        {
            var staged = Path.Combine(folder.FullName, "upload");
            await using (var file = File.Create(staged)) await content.CopyToAsync(file, cancel);
            var head = new byte[32];
            int length;
            await using (var file = File.OpenRead(staged)) length = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancel);
            var what = kind == MediaKind.Image ? "an image (PNG, JPEG, WebP)" : "a video (MP4, MOV, WebM, MKV, GIF)";
            var extension = MediaReader.SniffExtension(head.AsSpan(0, length))
                ?? throw new ApiException(ApiError.Invalid($"'{param}' is not {what}.", param, kind == MediaKind.Image ? "invalid_image" : "invalid_video"));
            var path = staged + extension;
            File.Move(staged, path);
            MediaInfo info;
            try
            {
                info = await MediaReader.ProbeAsync(path, cancel: cancel);
            }
            catch (MediaException e)
            {
                // The message names the staging path: the client's name for it is the parameter.
                throw new ApiException(ApiError.Invalid(e.Message.Replace(path, $"'{param}'"), param, kind == MediaKind.Image ? "invalid_image" : "invalid_video"));
            }
            if (info.Kind != kind) throw new ApiException(ApiError.Invalid($"'{param}' must be {what}.", param, "invalid_value"));
            if (kind == MediaKind.Video && served is not null && info.Duration.TotalSeconds > served.MaxSeconds)
                throw new ApiException(ApiError.Invalid($"'{param}' lasts {info.Duration.TotalSeconds:0.#} s; model '{ServedRequests.ModelId(served.Name)}' takes videos of at most {served.MaxSeconds} s.", param, "invalid_value"));
            var name = SessionArtifacts.NewUpload(tenant.Name, extension);
            await using (var file = File.OpenRead(path)) await artifacts.WriteAsync(name, file, cancel);
            return (MediaInput.Uploaded(name.Value), info);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
