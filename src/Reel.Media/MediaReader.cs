using System.Globalization;
using FFMpegCore;
using FFMpegCore.Exceptions;

namespace Reel.Media;

public enum MediaKind { Image, Video }

/// <summary>What a probe found in an input file.</summary>
public sealed record MediaInfo(MediaKind Kind, string Format, int Width, int Height, TimeSpan Duration, double FrameRate);

/// <summary>
/// Reads images (PNG, JPEG, WebP) and videos (MP4, MOV, WebM, MKV, GIF) into RGB frames at a requested size through
/// ffmpeg. Resizing preserves the aspect ratio and covers the target (the frame is scaled until both sides reach it),
/// then the centre is cropped to the exact size. Videos are resampled to the requested frame rate.
/// </summary>
public static class MediaReader
{
    private static readonly Dictionary<string, (MediaKind Kind, string Name, Func<string, string, bool> Matches)> Claims = new()
    {
        [".png"] = (MediaKind.Image, "PNG", (format, codec) => codec == "png"),
        [".jpg"] = (MediaKind.Image, "JPEG", (format, codec) => codec == "mjpeg"),
        [".jpeg"] = (MediaKind.Image, "JPEG", (format, codec) => codec == "mjpeg"),
        [".webp"] = (MediaKind.Image, "WebP", (format, codec) => codec == "webp"),
        [".mp4"] = (MediaKind.Video, "MP4", (format, codec) => format.Contains("mp4")),
        [".m4v"] = (MediaKind.Video, "MP4", (format, codec) => format.Contains("mp4")),
        [".mov"] = (MediaKind.Video, "QuickTime", (format, codec) => format.Contains("mov")),
        [".webm"] = (MediaKind.Video, "WebM", (format, codec) => format.Contains("webm")),
        [".mkv"] = (MediaKind.Video, "Matroska", (format, codec) => format.Contains("matroska")),
        [".gif"] = (MediaKind.Video, "GIF", (format, codec) => codec == "gif"),
    };

    /// <summary>
    /// The file extension <see cref="ProbeAsync"/> needs for content that starts with <paramref name="head"/> (its first
    /// bytes), from the formats' signatures; null when it is none of the formats read here.
    /// </summary>
    public static string? SniffExtension(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47])) return ".png";
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])) return ".jpg";
        if (head.Length >= 12 && head.StartsWith("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8)) return ".webp";
        if (head.StartsWith("GIF8"u8)) return ".gif";
        if (head.Length >= 12 && head[4..8].SequenceEqual("ftyp"u8)) return head[8..12].SequenceEqual("qt  "u8) ? ".mov" : ".mp4";
        if (head.StartsWith((ReadOnlySpan<byte>)[0x1A, 0x45, 0xDF, 0xA3])) return head.IndexOf("webm"u8) >= 0 ? ".webm" : ".mkv";
        return null;
    }

    /// <summary>Checks that <paramref name="path"/> exists, is within limits and is what its extension claims.</summary>
    public static async Task<MediaInfo> ProbeAsync(string path, MediaLimits? limits = null, CancellationToken cancel = default)
    {
        limits ??= MediaLimits.Default;
        var file = new FileInfo(path);
        if (!file.Exists) throw new MediaException($"{path}: no such file.");
        if (file.Length == 0) throw new MediaException($"{path} is empty.");
        if (file.Length > limits.MaxFileBytes)
            throw new MediaException($"{path} is {file.Length / 1048576.0:0.#} MiB; inputs may be at most {limits.MaxFileBytes / 1048576} MiB.");
        var extension = file.Extension.ToLowerInvariant();
        if (!Claims.TryGetValue(extension, out var claim))
            throw new MediaException($"{path}: unsupported file type '{extension}'; use {string.Join(", ", Claims.Keys)}.");
        try
        {
            using var readable = file.OpenRead();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MediaException($"{path} cannot be read: {e.Message}");
        }

        IMediaAnalysis analysis;
        try
        {
            analysis = await FFProbe.AnalyseAsync(path, cancellationToken: cancel);
        }
        catch (Exception e) when (e is FFMpegException or FFProbeException or FormatNullException or InvalidOperationException or System.Text.Json.JsonException)
        {
            throw new MediaException($"{path} is not a readable {claim.Name} file.");
        }
        var stream = analysis.PrimaryVideoStream;
        if (stream?.Width is not int width || stream.Height is not int height || width <= 0 || height <= 0)
            throw new MediaException($"{path} is not a readable {claim.Name} file (no picture found).");
        var format = analysis.Format.FormatName ?? "";
        if (!claim.Matches(format, stream.CodecName ?? ""))
            throw new MediaException($"{path} claims to be {claim.Name} but holds {stream.CodecName} in {format}.");
        if (width > limits.MaxDimension || height > limits.MaxDimension)
            throw new MediaException($"{path} is {width}x{height}; inputs may be at most {limits.MaxDimension} pixels on a side.");
        if (analysis.Duration > limits.MaxDuration)
            throw new MediaException($"{path} lasts {analysis.Duration:g}; inputs may last at most {limits.MaxDuration:g}.");
        var rate = stream.AverageFrameRate > 0 ? stream.AverageFrameRate : stream.RealFrameRate;
        return new MediaInfo(claim.Kind, format, width, height, analysis.Duration, rate);
    }

    /// <summary>The image at <paramref name="path"/>, resized and centre-cropped to <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static async Task<RgbFrame> ReadImageAsync(string path, int width, int height, MediaLimits? limits = null, CancellationToken cancel = default)
    {
        var info = await ProbeAsync(path, limits, cancel);
        if (info.Kind != MediaKind.Image) throw new MediaException($"{path} is a video; an image (PNG, JPEG, WebP) is needed here.");
        var frames = await DecodeAsync(path, width, height, fps: null, maxFrames: 1, cancel);
        return frames.Count == 1 ? frames[0] : throw new MediaException($"{path} holds no decodable picture.");
    }

    /// <summary>
    /// The video at <paramref name="path"/> as frames at <paramref name="fps"/>, resized and centre-cropped; at most
    /// <paramref name="maxFrames"/> frames from its start.
    /// </summary>
    public static async Task<IReadOnlyList<RgbFrame>> ReadVideoAsync(string path, int width, int height, int fps, int? maxFrames = null,
        MediaLimits? limits = null, CancellationToken cancel = default)
    {
        var info = await ProbeAsync(path, limits, cancel);
        if (info.Kind != MediaKind.Video) throw new MediaException($"{path} is an image; a video is needed here.");
        var frames = await DecodeAsync(path, width, height, fps, maxFrames, cancel);
        return frames.Count > 0 ? frames : throw new MediaException($"{path} holds no decodable frames.");
    }

    private static async Task<IReadOnlyList<RgbFrame>> DecodeAsync(string path, int width, int height, int? fps, int? maxFrames, CancellationToken cancel)
    {
        var filters = string.Join(',', new[]
        {
            fps is null ? null : $"fps={fps.Value.ToString(CultureInfo.InvariantCulture)}",
            $"scale={width}:{height}:force_original_aspect_ratio=increase:flags=bicubic",
            $"crop={width}:{height}",
        }.Where(f => f is not null));
        // Raw frames go to a file, not a pipe: reading ffmpeg's output pipe now and then came back empty (seen in CI).
        var raw = Path.Combine(Path.GetTempPath(), $"reel-decode-{Guid.NewGuid():N}.rgb");
        byte[] bytes;
        try
        {
            await FFMpegArguments
                .FromFileInput(path, true, o => o.WithCustomArgument("-xerror"))
                .OutputToFile(raw, overwrite: true, o =>
                {
                    o.WithCustomArgument($"-vf {filters} -pix_fmt rgb24 -an");
                    if (maxFrames is int n) o.WithCustomArgument($"-frames:v {n}");
                    o.ForceFormat("rawvideo");
                })
                .CancellableThrough(cancel)
                .ProcessAsynchronously(throwOnError: true);
            bytes = await File.ReadAllBytesAsync(raw, cancel);
        }
        catch (Exception e) when (e is FFMpegException or InvalidOperationException or FileNotFoundException)
        {
            throw new MediaException($"{path} could not be decoded (damaged or truncated?).");
        }
        finally
        {
            File.Delete(raw);
        }
        var frameBytes = width * height * 3;
        return Enumerable.Range(0, bytes.Length / frameBytes)
            .Select(i => new RgbFrame(width, height, bytes.AsSpan(i * frameBytes, frameBytes).ToArray())).ToList();
    }
}
