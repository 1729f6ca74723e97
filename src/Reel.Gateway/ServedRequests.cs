using Reel.Abstractions;
using Reel.Model;
using Reel.Requests;

namespace Reel.Gateway;

/// <summary>
/// Maps what an OpenAI client sends onto what the pool's model serves: sizes by <see cref="SizeRule"/> (the CLI's rule
/// too); the SDK's standard durations go to the nearest
/// duration the model lists, other durations up to the model's maximum pass as they are (the silo rounds them up to a
/// valid frame count). Anything else is refused with the values that would work.
/// </summary>
public static class ServedRequests
{

    /// <summary>The SDK's durations: 4, 8 and 12 for a new video, up to 20 for an extension.</summary>
    public static readonly double[] StandardSeconds = [4, 8, 12, 16, 20];

    /// <summary>The model id clients see: <c>reel-{config}</c>; <c>sora-2*</c> names are aliases of it.</summary>
    public static string ModelId(string name) => $"reel-{name}";

    public static bool AcceptsModel(ServedModel model, string? requested) =>
        requested is null || requested.StartsWith("sora-2", StringComparison.Ordinal) || requested == ModelId(model.Name);

    /// <summary>The size made for <paramref name="size"/> ("WxH") by <see cref="SizeRule"/>; throws <see cref="ModelException"/> for one the model cannot make.</summary>
    public static (int Width, int Height) MapSize(ServedModel model, VideoSize size)
    {
        var trained = model.Sizes.Select(s => Parse(s)!.Value).Select(s => new VideoSize(s.Width, s.Height)).ToList();
        var chosen = SizeRule.Choose(model.Name, trained, model.SizeMultiple, size).Size;
        return (chosen.Width, chosen.Height);
    }

    /// <summary>The duration to make for <paramref name="seconds"/>, or null when the model cannot make it.</summary>
    public static double? MapSeconds(ServedModel model, double seconds)
    {
        if (model.Durations.Contains(seconds) || !StandardSeconds.Contains(seconds))
            return seconds > 0 && seconds <= model.MaxSeconds ? seconds : null;
        return model.Durations.MinBy(d => Math.Abs(d - seconds));
    }

    public static (int Width, int Height)? Parse(string size)
    {
        var parts = size.Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], out var w) && int.TryParse(parts[1], out var h) && w > 0 && h > 0 ? (w, h) : null;
    }
}
