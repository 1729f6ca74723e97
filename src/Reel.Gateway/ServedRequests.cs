using Reel.Abstractions;

namespace Reel.Gateway;

/// <summary>
/// Maps what an OpenAI client sends onto what the pool's model serves: the SDK's standard sizes go to the served size
/// with the nearest aspect ratio, served sizes pass as they are; the SDK's standard durations go to the nearest
/// duration the model lists, other durations up to the model's maximum pass as they are (the silo rounds them up to a
/// valid frame count). Anything else is refused with the values that would work.
/// </summary>
public static class ServedRequests
{
    public static readonly string[] StandardSizes = ["720x1280", "1280x720", "1024x1792", "1792x1024"];

    /// <summary>The SDK's durations: 4, 8 and 12 for a new video, up to 20 for an extension.</summary>
    public static readonly double[] StandardSeconds = [4, 8, 12, 16, 20];

    /// <summary>The model id clients see: <c>reel-{config}</c>; <c>sora-2*</c> names are aliases of it.</summary>
    public static string ModelId(string name) => $"reel-{name}";

    public static bool AcceptsModel(ServedModel model, string? requested) =>
        requested is null || requested.StartsWith("sora-2", StringComparison.Ordinal) || requested == ModelId(model.Name);

    /// <summary>The served size for <paramref name="size"/> ("WxH"), or null when the model serves nothing like it.</summary>
    public static (int Width, int Height)? MapSize(ServedModel model, string size)
    {
        if (model.Sizes.Contains(size)) return Parse(size);
        if (!StandardSizes.Contains(size)) return null;
        var aspect = Aspect(Parse(size)!.Value);
        return model.Sizes.Select(s => Parse(s)!.Value).MinBy(s => Math.Abs(Aspect(s) - aspect));
    }

    /// <summary>The duration to make for <paramref name="seconds"/>, or null when the model cannot make it.</summary>
    public static double? MapSeconds(ServedModel model, double seconds)
    {
        if (model.Durations.Contains(seconds) || !StandardSeconds.Contains(seconds))
            return seconds > 0 && seconds <= model.MaxSeconds ? seconds : null;
        return model.Durations.MinBy(d => Math.Abs(d - seconds));
    }

    private static double Aspect((int Width, int Height) size) => Math.Log((double)size.Width / size.Height);

    public static (int Width, int Height)? Parse(string size)
    {
        var parts = size.Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], out var w) && int.TryParse(parts[1], out var h) && w > 0 && h > 0 ? (w, h) : null;
    }
}
