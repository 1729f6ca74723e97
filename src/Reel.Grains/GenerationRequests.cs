using Reel.Abstractions;
using Reel.Model;
using Reel.World;

namespace Reel.Grains;

/// <summary>A tenant's <see cref="VideoRequest"/> as the model library's request: the same rules as <c>reel generate</c>.</summary>
public static class GenerationRequests
{
    /// <summary>The model's request (prompt expanded as the CLI does); throws a <see cref="ModelException"/> naming what the model cannot do.</summary>
    public static GenerationRequest From(VideoRequest request, ModelConfig config)
    {
        if (string.IsNullOrWhiteSpace(request.Prompt)) throw new ModelException("The prompt is empty: describe what the video shows.");
        if ((request.Width is null) != (request.Height is null)) throw new ModelException("Give both width and height, or neither.");
        if (request.Frames is not null && request.Seconds is not null) throw new ModelException("Give frames or seconds, not both.");
        if (request.Seconds is { } seconds && !(seconds > 0 && seconds <= config.MaxSeconds))
            throw new ModelException($"Seconds must be more than 0 and at most {config.MaxSeconds} for model '{config.Name}', got {seconds}.");
        if (!Enum.TryParse<FlowSolver>(request.Solver, ignoreCase: true, out var solver))
            throw new ModelException($"Solver '{request.Solver}' is not euler or heun.");
        var caption = request.Expand ? PromptExpander.Expand(request.Prompt, PromptExpander.SeedFor(request.Seed)).Caption : request.Prompt;
        var generation = new GenerationRequest
        {
            Prompt = caption, Seed = request.Seed,
            Size = request.Width is { } width && request.Height is { } height ? new VideoSize(width, height) : config.DefaultSize,
            Frames = request.Frames ?? FrameCount.ForSeconds(config, request.Seconds ?? 2.0),
            Steps = request.Steps, Guidance = request.Guidance, Solver = solver,
        };
        VideoGenerator.Validate(config, generation);
        return generation;
    }
}
