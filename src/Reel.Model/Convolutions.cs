using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>One convolution a model runs: channels, kernel and stride in time and space.</summary>
public readonly record struct ConvolutionShape(long In, long Out, long TimeKernel, long SpaceKernel, long TimeStride, long SpaceStride);

/// <summary>
/// Every convolution of the model goes through <see cref="Conv3d"/>, which widens channel counts to multiples of 16
/// with zeros. libtorch 2.10's oneDNN is wrong on some machines when they are not (measured on a virtualised AMD
/// Zen 5, 3×3×3 kernels, every pair of 2–64 channels against float64: the output wrong whenever 24 channels go in,
/// input gradients wrong unless the channels out are a multiple of 16 — NaN now and then — and with AVX2 only, the
/// output wrong for 12 in); with both sides multiples of 16 every pair was right. The zeros change nothing but cost:
/// only a VAE's first and last convolutions (3·p² channels) and the narrow test configuration pay them.
/// </summary>
public static class Convolutions
{
    public const int ChannelMultiple = 16;

    public static Tensor Conv3d(Tensor x, Tensor weight, Tensor? bias, long timeStride, long spaceStride, long spacePadding)
    {
        var (inputs, outputs) = (weight.shape[1], weight.shape[0]);
        var (wideIn, wideOut) = (Widen(inputs), Widen(outputs));
        long[] strides = [timeStride, spaceStride, spaceStride], padding = [0, spacePadding, spacePadding];
        if (wideIn == inputs && wideOut == outputs) return nn.functional.conv3d(x, weight, bias, strides, padding);
        using var scope = NewDisposeScope();
        // pad takes (before, after) pairs from the last dimension back: weights [out, in, t, h, w], inputs [B, C, T, H, W].
        var wideWeight = nn.functional.pad(weight, [0, 0, 0, 0, 0, 0, 0, wideIn - inputs, 0, wideOut - outputs]);
        var wideBias = bias is null ? null : nn.functional.pad(bias, [0, wideOut - outputs]);
        var wideX = wideIn == inputs ? x : nn.functional.pad(x, [0, 0, 0, 0, 0, 0, 0, wideIn - inputs]);
        var y = nn.functional.conv3d(wideX, wideWeight, wideBias, strides, padding);
        return (wideOut == outputs ? y : y[.., ..(int)outputs]).MoveToOuterDisposeScope();
    }

    private static long Widen(long channels) => (channels + ChannelMultiple - 1) / ChannelMultiple * ChannelMultiple;
}

/// <summary>
/// libtorch 2.10's oneDNN convolutions are wrong on some machines for some channel counts. Measured on a virtualised
/// AMD Zen 5 (3×3×3, every pair of 2–64 channels against float64): the forward pass wrong whenever 24 channels go in,
/// input gradients wrong unless the channels out are a multiple of 16, now and then NaN; with oneDNN off every result
/// is right, 5–10× slower. <see cref="Convolutions.Conv3d"/> avoids what was seen; every convolution shape a model runs is
/// still checked once per process against float64 (which never takes oneDNN), in the precision it runs in, with
/// gradients when it trains, and one wrong result turns oneDNN off for the whole process. Correct first: a slow VAE
/// beats a wrong one.
/// </summary>
public static class ConvolutionCheck
{
    private static readonly ConcurrentDictionary<(ConvolutionShape, ScalarType, bool), bool> Checked = new();

    /// <summary>Why oneDNN was turned off in this process; null while it is on.</summary>
    public static string? OneDnnOff { get; private set; }

    /// <summary>Checks each shape not checked yet; returns false when oneDNN had to be turned off (now or before).</summary>
    public static bool Verify(IEnumerable<ConvolutionShape> shapes, ScalarType dtype, bool gradients)
    {
        foreach (var shape in shapes.Distinct())
        {
            if (OneDnnOff is not null) break;
            if (Checked.ContainsKey((shape, dtype, gradients))) continue;
            if (!Agrees(shape, dtype, gradients))
            {
                Native.SetUserEnabledMkldnn(Native.GlobalContext(), false);
                OneDnnOff = $"oneDNN convolution {shape.In}→{shape.Out} channels, kernel {shape.TimeKernel}×{shape.SpaceKernel}² ({dtype}"
                    + $"{(gradients ? ", gradients" : "")}) disagreed with float64 on this machine: oneDNN is off for this process (correct, slower).";
            }
            Checked[(shape, dtype, gradients)] = true;
        }
        return OneDnnOff is null;
    }

    /// <summary>Whether this process computes <paramref name="shape"/> as float64 does (outputs, and input gradients when asked).</summary>
    public static bool Agrees(ConvolutionShape shape, ScalarType dtype, bool gradients)
    {
        using var scope = NewDisposeScope();
        using var noGrad = gradients ? null : no_grad();
        var generator = new Generator(17, CPU);
        var frames = shape.TimeKernel + 2 * shape.TimeStride;
        var x = randn([2, shape.In, frames, 12, 12], generator: generator);
        var weight = randn([shape.Out, shape.In, shape.TimeKernel, shape.SpaceKernel, shape.SpaceKernel], generator: generator) / Math.Sqrt(shape.In * shape.TimeKernel * shape.SpaceKernel * shape.SpaceKernel);
        var bias = randn([shape.Out], generator: generator);
        (Tensor Output, Tensor? InputGradient) Run(ScalarType type)
        {
            var input = x.to(type).detach().requires_grad_(gradients);
            var output = Convolutions.Conv3d(input, weight.to(type), bias.to(type), shape.TimeStride, shape.SpaceStride, shape.SpaceKernel / 2);
            if (gradients) output.square().sum().backward();
            return (output.to(ScalarType.Float64), input.grad?.to(ScalarType.Float64));
        }
        var (expected, expectedGradient) = Run(ScalarType.Float64);
        var (actual, actualGradient) = Run(dtype);
        // bfloat16 keeps 8 bits of mantissa: compare at its resolution.
        var tolerance = dtype == ScalarType.BFloat16 ? 0.05 : 1e-3;
        static bool Close(Tensor a, Tensor b, double tolerance) =>
            a.isfinite().all().item<bool>() && (a - b).abs().max().item<double>() <= tolerance * Math.Max(1, b.abs().max().item<double>());
        return Close(actual, expected, tolerance) && (!gradients || Close(actualGradient!, expectedGradient!, tolerance));
    }

    private static class Native
    {
        [DllImport("libtorch_cpu.so", EntryPoint = "_ZN2at13globalContextEv")]
        public static extern IntPtr GlobalContext();

        [DllImport("libtorch_cpu.so", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
        public static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
    }
}
