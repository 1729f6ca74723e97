using System.CommandLine;
using Reel.Model;
using static TorchSharp.torch;

namespace Reel.Cli;

/// <summary><c>reel weights pack FROM TO</c>: a weights folder as it ships — the sampling (EMA) DiT only, stored in float16.</summary>
public static class WeightsCommand
{
    public static Command Create()
    {
        var from = new Argument<DirectoryInfo>("from") { Description = "A weights folder (e.g. a training export)" };
        var to = new Argument<DirectoryInfo>("to") { Description = "The folder to write" };
        var pack = new Command("pack", "Write a weights folder for shipping: the EMA DiT alone, in float16 (about half the size)") { from, to };
        pack.SetAction((result, _) => CommandErrors.RunAsync(() =>
        {
            var target = result.GetValue(to)!.FullName;
            if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
                throw new ModelException($"{target} is not empty: pack into a new folder.");
            using var model = ReelModel.Load(result.GetValue(from)!.FullName);
            model.Save(target, ditStorage: ScalarType.Float16);
            var bytes = new DirectoryInfo(target).EnumerateFiles().Sum(f => f.Length);
            Console.WriteLine($"Packed {WeightsFolder.ContentHash(target)} into {target} ({bytes / 1e6:0.0} MB).");
            return Task.CompletedTask;
        }));
        return new Command("weights", "Work with weights folders") { pack };
    }
}
