using FFMpegCore;
using FFMpegCore.Enums;
using FFMpegCore.Exceptions;
using FFMpegCore.Pipes;

namespace Reel.Media;

/// <summary>
/// Writes frames as H.264 MP4 (yuv420p, faststart) and single frames as PNG, JPEG or WebP. Every file is written under
/// a temporary name beside its destination and renamed when complete, so a failure never leaves a partial file.
/// </summary>
public static class MediaWriter
{
    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".webp"];

    /// <summary>Encodes <paramref name="frames"/> (consumed lazily, so a long video need not be in memory at once).</summary>
    public static Task WriteMp4Async(string path, IEnumerable<RgbFrame> frames, int fps, CancellationToken cancel = default)
    {
        RequireExtension(path, [".mp4"]);
        var source = new RawVideoPipeSource(frames.Select(f => new PipeFrame(f))) { FrameRate = fps };
        return Atomically(path, temp => FFMpegArguments.FromPipeInput(source)
            .OutputToFile(temp, true, o => o
                .WithVideoCodec(VideoCodec.LibX264)
                .WithCustomArgument("-pix_fmt yuv420p -crf 18 -preset medium")
                .WithFastStart()
                .ForceFormat("mp4"))
            .CancellableThrough(cancel)
            .ProcessAsynchronously(throwOnError: true));
    }

    /// <summary>Writes one frame as an image; the format follows the extension.</summary>
    public static Task WriteImageAsync(string path, RgbFrame frame, CancellationToken cancel = default)
    {
        var extension = RequireExtension(path, ImageExtensions);
        var (codec, quality) = extension switch
        {
            ".png" => ("png", ""),
            ".webp" => ("libwebp", "-lossless 1"),
            _ => ("mjpeg", "-q:v 2"),
        };
        var source = new RawVideoPipeSource(new[] { new PipeFrame(frame) }) { FrameRate = 1 };
        return Atomically(path, temp => FFMpegArguments.FromPipeInput(source)
            .OutputToFile(temp, true, o => o
                .WithCustomArgument($"-frames:v 1 -update 1 -c:v {codec} {quality} -pix_fmt {(codec == "mjpeg" ? "yuvj444p" : codec == "png" ? "rgb24" : "bgra")}")
                .ForceFormat("image2"))
            .CancellableThrough(cancel)
            .ProcessAsynchronously(throwOnError: true));
    }

    public static string RequireExtension(string path, string[] allowed)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (!allowed.Contains(extension))
            throw new MediaException($"{path}: the file name must end in {string.Join(" or ", allowed)}.");
        return extension;
    }

    private static async Task Atomically(string path, Func<string, Task> write)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(folder)) throw new MediaException($"{path}: folder {folder} does not exist.");
        var temp = Path.Combine(folder, $".{Path.GetFileNameWithoutExtension(full)}.{Guid.NewGuid():N}.partial{Path.GetExtension(full)}");
        try
        {
            await write(temp);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is FFMpegException or IOException or UnauthorizedAccessException)
        {
            throw new MediaException($"{path} could not be written: {e.Message.Split('\n')[0]}");
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private sealed class PipeFrame(RgbFrame frame) : IVideoFrame
    {
        public int Width => frame.Width;
        public int Height => frame.Height;
        public string Format => "rgb24";
        public string PixelFormat => "rgb24";
        public void Serialize(Stream pipe) => pipe.Write(frame.Pixels);
        public Task SerializeAsync(Stream pipe, CancellationToken token) => pipe.WriteAsync(frame.Pixels, token).AsTask();
    }
}
