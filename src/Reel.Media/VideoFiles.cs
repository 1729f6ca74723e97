namespace Reel.Media;

/// <summary>
/// The files a finished video is delivered as, written from one pass over its frames: the MP4, a thumbnail (the
/// middle frame) and a spritesheet (a grid of up to <see cref="SpritesheetFrames"/> evenly spaced frames).
/// </summary>
public static class VideoFiles
{
    public const int SpritesheetFrames = 16;

    /// <summary>Writes the files; on failure none of them is left behind.</summary>
    public static async Task WriteAsync(IEnumerable<RgbFrame> frames, int total, int fps, string mp4, string? thumbnail,
        string? spritesheet, CancellationToken cancel = default)
    {
        var picks = new Picks(total);
        var written = new List<string>();
        try
        {
            await MediaWriter.WriteMp4Async(mp4, picks.Watch(frames), fps, cancel);
            written.Add(mp4);
            if (thumbnail is not null)
            {
                await MediaWriter.WriteImageAsync(thumbnail, picks.Thumbnail!, cancel);
                written.Add(thumbnail);
            }
            if (spritesheet is not null)
            {
                await MediaWriter.WriteImageAsync(spritesheet, RgbFrame.Grid(picks.Sheet), cancel);
                written.Add(spritesheet);
            }
        }
        catch
        {
            foreach (var path in written) File.Delete(path);
            throw;
        }
    }

    /// <summary>Keeps the thumbnail and the spritesheet's frames as the video streams past.</summary>
    private sealed class Picks(int total)
    {
        private readonly int[] _sheetIndices = RgbFrame.EvenlySpaced(total, SpritesheetFrames);
        public RgbFrame? Thumbnail { get; private set; }
        public List<RgbFrame> Sheet { get; } = [];

        public IEnumerable<RgbFrame> Watch(IEnumerable<RgbFrame> frames)
        {
            var index = 0;
            foreach (var frame in frames)
            {
                if (index == total / 2) Thumbnail = frame;
                if (_sheetIndices.Contains(index)) Sheet.Add(frame);
                index++;
                yield return frame;
            }
            if (index != total) throw new InvalidOperationException($"Expected {total} output frames, made {index}.");
        }
    }
}
