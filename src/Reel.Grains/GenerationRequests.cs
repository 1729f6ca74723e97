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
        if (!Enum.TryParse<FlowSolver>(request.Solver, ignoreCase: true, out var solver))
            throw new ModelException($"Solver '{request.Solver}' is not euler or heun.");
        var caption = request.Expand ? PromptExpander.Expand(request.Prompt, PromptExpander.SeedFor(request.Seed)).Caption : request.Prompt;
        var generation = new GenerationRequest
        {
            Prompt = caption, Size = new VideoSize(request.Width, request.Height), Frames = request.Frames, Seed = request.Seed,
            Steps = request.Steps, Guidance = request.Guidance, Solver = solver,
        };
        VideoGenerator.Validate(config, generation);
        return generation;
    }
}
