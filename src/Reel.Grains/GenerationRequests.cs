using Reel.Abstractions;
using Reel.Model;
using Reel.World;

namespace Reel.Grains;

/// <summary>A tenant's <see cref="VideoRequest"/> as the model library's request: the same rules as <c>reel generate</c>.</summary>
public static class GenerationRequests
{
    /// <summary>
    /// The model's request (prompt expanded as the CLI does) at the requested size, else <paramref name="inputSize"/>,
    /// else the model's default; throws a <see cref="ModelException"/> naming what the model cannot do. Its frame count
    /// is the new part's: a whole video, an extension or a bridge (1 + k·f_t).
    /// </summary>
    public static GenerationRequest From(VideoRequest request, ModelConfig config, VideoSize? inputSize = null)
    {
        if (string.IsNullOrWhiteSpace(request.Prompt)) throw new ModelException("The prompt is empty: describe what the video shows.");
        if ((request.Width is null) != (request.Height is null)) throw new ModelException("Give both width and height, or neither.");
        if (request.Frames is not null && request.Seconds is not null) throw new ModelException("Give frames or seconds, not both.");
        if (request.Seconds is { } seconds && !(seconds > 0 && seconds <= config.MaxSeconds))
            throw new ModelException($"Seconds must be more than 0 and at most {config.MaxSeconds} for model '{config.Name}', got {seconds}.");
        if (!Enum.TryParse<FlowSolver>(request.Solver, ignoreCase: true, out var solver))
            throw new ModelException($"Solver '{request.Solver}' is not euler or heun.");
        RequireOneMode(request);
        var caption = request.Expand ? PromptExpander.Expand(request.Prompt, PromptExpander.SeedFor(request.Seed)).Caption : request.Prompt;
        var generation = new GenerationRequest
        {
            Prompt = caption, Seed = request.Seed,
            Size = request.Width is { } width && request.Height is { } height ? new VideoSize(width, height) : inputSize ?? config.DefaultSize,
            Frames = request.Frames ?? FrameCount.ForSeconds(config, request.Seconds ?? 2.0),
            Steps = request.Steps, Guidance = request.Guidance, Solver = solver,
        };
        VideoGenerator.Validate(config, generation);
        return generation;
    }

    /// <summary>The modes a request combines must make sense together (as <c>reel generate</c>'s flags).</summary>
    private static void RequireOneMode(VideoRequest request)
    {
        string[] modes = [.. new (string Name, bool Set)[]
        {
            ("an image", request.Image is not null), ("an extension", request.Extend is not null),
            ("an edit", request.Edit is not null), ("a connection", request.Connect.Count > 0),
        }.Where(m => m.Set).Select(m => m.Name)];
        if (modes.Length > 1) throw new ModelException($"A request is one of image-to-video, extension, edit or connection, not {string.Join(" and ", modes)}.");
        if (request.Loop && modes is [not "an image"]) throw new ModelException($"A loop is made from a prompt or an image, not {modes[0]}.");
        if (request.Connect.Count is not (0 or 2)) throw new ModelException($"A connection joins two videos, got {request.Connect.Count}.");
        if (request.Strength is { } strength && (request.Edit is null || !(strength > 0 && strength <= 1)))
            throw new ModelException($"Strength applies to edits and is in (0, 1], got {strength}.");
        if (request.Edit is not null && (request.Seconds is not null || request.Frames is not null))
            throw new ModelException("An edit keeps its source's length: give no seconds or frames.");
    }
}
