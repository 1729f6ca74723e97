using Reel.Media;
using TorchSharp;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>Converts between RGB frames and the model's pixel tensors (values in [-1, 1]).</summary>
public static class FrameTensors
{
    /// <summary>Frames to [1, 3, T, H, W].</summary>
    public static Tensor ToVideo(IReadOnlyList<RgbFrame> frames)
    {
        var (w, h) = (frames[0].Width, frames[0].Height);
        var bytes = new byte[frames.Count * w * h * 3];
        for (var i = 0; i < frames.Count; i++) frames[i].Pixels.CopyTo(bytes, i * w * h * 3);
        using var scope = NewDisposeScope();
        // Named scalars stay reachable until the call returns: an implicit conversion's Scalar can be finalized while
        // libtorch still reads it (seen as "Unknown scalar type" after hours of training).
        using var scale = 127.5.ToScalar();
        using var one = 1.ToScalar();
        var video = tensor(bytes, [frames.Count, h, w, 3]).to(ScalarType.Float32).div(scale).sub(one).permute(3, 0, 1, 2).unsqueeze(0);
        return video.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Each frame of [T, 3, H, W] or of a video [1, 3, T, H, W].</summary>
    public static IEnumerable<RgbFrame> ToFrames(Tensor frames)
    {
        if (frames.dim() == 5) frames = frames[0].permute(1, 0, 2, 3);
        var (h, w) = ((int)frames.shape[2], (int)frames.shape[3]);
        for (var i = 0; i < frames.shape[0]; i++)
        {
            RgbFrame frame;
            // No dispose scope may stay open across the yield: the caller's tensors would land in it.
            using (NewDisposeScope())
            {
                var bytes = frames[i].permute(1, 2, 0).add(1).mul(127.5).round().clamp(0, 255).to(ScalarType.Byte).contiguous();
                frame = new RgbFrame(w, h, bytes.data<byte>().ToArray());
            }
            yield return frame;
        }
    }
}
