using System.CommandLine;
using Reel.Model;
using TorchSharp;

namespace Reel.Cli;

/// <summary>The options every model-running command shares, and the one rule that picks the weights.</summary>
public sealed class ModelOptions
{
    public Option<string?> Config { get; } = new("--config")
    {
        Description = $"Fresh weights of a configuration ({string.Join(", ", ModelConfig.Presets.Select(p => p.Name))}) when no --weights is given",
    };

    public Option<DirectoryInfo?> Weights { get; } = new("--weights") { Description = "A weights folder (config.json and safetensors files)" };
    public Option<string> Device { get; } = new("--device") { Description = "cpu or cuda[:n]", DefaultValueFactory = _ => "cpu" };
    public Option<string> Dtype { get; } = new("--dtype") { Description = "float32 or bfloat16; a model silo also takes auto (the faster here, measured at start)", DefaultValueFactory = _ => "float32" };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "Torch threads (results are bit-identical only for the same count)",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Config, Weights, Device, Dtype, Threads }) command.Options.Add(option);
        Threads.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError("--threads must be at least 1.");
        });
    }

    /// <summary>The configuration and runtime the options select, checked before anything is loaded.</summary>
    public (ModelConfig Config, ModelRuntime Runtime) Resolve(ParseResult result, bool fasterDtypeAllowed = false)
    {
        var dtype = result.GetValue(Dtype)!;
        var runtime = new ModelRuntime(result.GetValue(Device)!,
            fasterDtypeAllowed && dtype == ModelRuntime.FasterDtype ? torch.ScalarType.Float32 : ModelRuntime.ParseDtype(dtype));
        runtime.ResolveDevice();
        return (ModelSource.ConfigFor(result.GetValue(Weights)?.FullName, result.GetValue(Config)), runtime);
    }

    public ReelModel Open(ParseResult result)
    {
        var (_, runtime) = Resolve(result);
        torch.set_num_threads(result.GetValue(Threads));
        return ModelSource.Open(result.GetValue(Weights)?.FullName, result.GetValue(Config), runtime, Console.Error.WriteLine);
    }
}
