using System.Text;
using FFMpegCore;
using Reel.Media;

namespace Reel.Tests;

public class MediaTests
{
    private static RgbFrame Solid(int w, int h, byte r, byte g, byte b)
    {
        var pixels = new byte[w * h * 3];
        for (var i = 0; i < pixels.Length; i += 3) (pixels[i], pixels[i + 1], pixels[i + 2]) = (r, g, b);
        return new RgbFrame(w, h, pixels);
    }

    /// <summary>Frames whose brightness ramps over time: easy to recognise after a lossy round trip.</summary>
    private static List<RgbFrame> Ramp(int count, int w = 32, int h = 32) =>
        Enumerable.Range(0, count).Select(i => Solid(w, h, (byte)(i * 255 / Math.Max(1, count - 1)), 80, 160)).ToList();

    [Fact]
    public async Task Mp4_is_h264_yuv420p_at_the_frame_rate_with_the_index_first()
    {
        var path = Path.Combine(TestModels.TempFolder(), "clip.mp4");
        await MediaWriter.WriteMp4Async(path, Ramp(17, 48, 32), fps: 8);
        var probe = await FFProbe.AnalyseAsync(path);
        var stream = probe.PrimaryVideoStream!;
        Assert.Equal("h264", stream.CodecName);
        Assert.Equal("yuv420p", stream.PixelFormat);
        Assert.Equal((48, 32), (stream.Width, stream.Height));
        Assert.Equal(8, stream.AverageFrameRate, 3);
        Assert.Equal(17, FFProbe.GetFrames(path).Frames.Count);
        var bytes = Encoding.Latin1.GetString(await File.ReadAllBytesAsync(path));
        Assert.True(bytes.IndexOf("moov", StringComparison.Ordinal) < bytes.IndexOf("mdat", StringComparison.Ordinal), "faststart puts moov before mdat");
    }

    [Fact]
    public async Task Video_frames_read_back_close_to_what_was_written_and_resampled_to_the_requested_rate()
    {
        var path = Path.Combine(TestModels.TempFolder(), "clip.mp4");
        var written = Ramp(16);
        await MediaWriter.WriteMp4Async(path, written, fps: 8);
        var read = await MediaReader.ReadVideoAsync(path, 32, 32, fps: 8);
        Assert.Equal(16, read.Count);
        for (var i = 0; i < 16; i++) Assert.InRange(read[i].Pixels[0], written[i].Pixels[0] - 6, written[i].Pixels[0] + 6);
        Assert.Equal(8, (await MediaReader.ReadVideoAsync(path, 32, 32, fps: 4)).Count);
        Assert.Equal(5, (await MediaReader.ReadVideoAsync(path, 32, 32, fps: 8, maxFrames: 5)).Count);
    }

    [Theory]
    [InlineData("png")]
    [InlineData("webp")]
    public async Task Lossless_images_round_trip_exactly(string extension)
    {
        var path = Path.Combine(TestModels.TempFolder(), $"still.{extension}");
        var frame = Ramp(3, 24, 16)[1];
        frame.Pixels[5] = 7;
        await MediaWriter.WriteImageAsync(path, frame);
        var read = await MediaReader.ReadImageAsync(path, 24, 16);
        Assert.Equal(frame.Pixels, read.Pixels);
    }

    [Fact]
    public async Task Jpeg_images_round_trip_closely()
    {
        var path = Path.Combine(TestModels.TempFolder(), "still.jpg");
        var frame = Solid(24, 16, 200, 40, 90);
        await MediaWriter.WriteImageAsync(path, frame);
        var read = await MediaReader.ReadImageAsync(path, 24, 16);
        Assert.True(frame.Pixels.Zip(read.Pixels).All(p => Math.Abs(p.First - p.Second) <= 6));
    }

    [Fact]
    public async Task Images_are_scaled_to_cover_and_centre_cropped()
    {
        // 64x32: left half red, right half blue; at 32x32 the centre crop keeps a red left and a blue right half.
        var source = Solid(64, 32, 255, 0, 0);
        for (var y = 0; y < 32; y++)
            for (var x = 32; x < 64; x++) (source.Pixels[(y * 64 + x) * 3], source.Pixels[(y * 64 + x) * 3 + 2]) = (0, 255);
        var path = Path.Combine(TestModels.TempFolder(), "wide.png");
        await MediaWriter.WriteImageAsync(path, source);
        var read = await MediaReader.ReadImageAsync(path, 32, 32);
        Assert.True(read.Pixels[(16 * 32 + 2) * 3] > 200, "left is red");
        Assert.True(read.Pixels[(16 * 32 + 29) * 3 + 2] > 200, "right is blue");
        var tall = await MediaReader.ReadImageAsync(path, 16, 64);
        Assert.Equal(16 * 64 * 3, tall.Pixels.Length);
    }

    [Fact]
    public async Task Bad_inputs_fail_with_a_message_that_says_what_is_wrong()
    {
        var folder = TestModels.TempFolder();
        string Write(string name, byte[] bytes)
        {
            var path = Path.Combine(folder, name);
            File.WriteAllBytes(path, bytes);
            return path;
        }
        var png = Path.Combine(folder, "real.png");
        await MediaWriter.WriteImageAsync(png, Solid(16, 16, 1, 2, 3));
        var mp4 = Path.Combine(folder, "real.mp4");
        await MediaWriter.WriteMp4Async(mp4, Ramp(9), 8);
        var mp4Bytes = await File.ReadAllBytesAsync(mp4);

        async Task Fails(string expected, Func<Task> read) => Assert.Contains(expected, (await Assert.ThrowsAsync<MediaException>(read)).Message);
        await Fails("no such file", () => MediaReader.ProbeAsync(Path.Combine(folder, "missing.png")));
        await Fails("is empty", () => MediaReader.ProbeAsync(Write("empty.png", [])));
        await Fails("not a readable PNG", () => MediaReader.ProbeAsync(Write("text.png", Encoding.UTF8.GetBytes("not an image"))));
        var pngBytes = await File.ReadAllBytesAsync(png);
        await Fails("claims to be JPEG but holds png", () => MediaReader.ProbeAsync(Write("png.jpg", pngBytes)));
        await Fails("unsupported file type '.txt'", () => MediaReader.ProbeAsync(Write("notes.txt", [1, 2, 3])));
        await Fails("could not be decoded", () => MediaReader.ReadVideoAsync(Write("cut.mp4", mp4Bytes[..(mp4Bytes.Length * 2 / 3)]), 32, 32, 8));
        await Fails("MiB", () => MediaReader.ProbeAsync(png, new MediaLimits { MaxFileBytes = 10 }));
        await Fails("at most 8 pixels", () => MediaReader.ProbeAsync(png, new MediaLimits { MaxDimension = 8 }));
        await Fails("is a video", () => MediaReader.ReadImageAsync(mp4, 16, 16));
        await Fails("is an image", () => MediaReader.ReadVideoAsync(png, 16, 16, 8));
    }

    [Fact]
    public async Task A_failed_write_leaves_no_file_behind()
    {
        var folder = TestModels.TempFolder();
        await Assert.ThrowsAsync<MediaException>(() => MediaWriter.WriteMp4Async(Path.Combine(folder, "nope", "x.mp4"), Ramp(5), 8));
        await Assert.ThrowsAsync<MediaException>(() => MediaWriter.WriteMp4Async(Path.Combine(folder, "x.avi"), Ramp(5), 8));
        await Assert.ThrowsAnyAsync<Exception>(() => MediaWriter.WriteMp4Async(Path.Combine(folder, "broken.mp4"), FailingMidway(), 8));
        Assert.Empty(Directory.GetFiles(folder));
    }

    private static IEnumerable<RgbFrame> FailingMidway()
    {
        yield return Solid(16, 16, 0, 0, 0);
        throw new IOException("the frames stopped coming");
    }

    [Fact]
    public void Spritesheets_are_square_grids_of_evenly_spaced_frames()
    {
        Assert.Equal([0, 5, 10, 14, 19, 24], RgbFrame.EvenlySpaced(25, 6));
        Assert.Equal([0], RgbFrame.EvenlySpaced(1, 16));
        Assert.Equal([0, 1, 2], RgbFrame.EvenlySpaced(3, 16));
        var sheet = RgbFrame.Grid(Ramp(5, 8, 4));
        Assert.Equal((24, 8), (sheet.Width, sheet.Height)); // 3 columns, 2 rows
        Assert.Equal(Ramp(5, 8, 4)[4].Pixels[0], sheet.Pixels[(4 * 24 + 8) * 3]); // frame 4 sits at row 1, column 1
        Assert.Equal(0, sheet.Pixels[(4 * 24 + 16) * 3 + 1]); // the unused cell is black
    }
}
