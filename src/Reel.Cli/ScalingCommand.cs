using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Reel.Model;
using Reel.Training;
using Reel.World;

namespace Reel.Cli;

/// <summary>
/// <c>reel scaling</c>: trains DiT sizes at several compute budgets on the same data and VAE, fits L(C) = a·C^(−b) + c
/// to the frontier, predicts a larger held-out run before training it, relates loss to eval adherence, and plots it all.
/// Everything lands in one folder; running the command again resumes at the first unfinished step.
/// </summary>
public static class ScalingCommand
{
    public const string PredictionFile = "prediction.json", AdherenceFile = "adherence.json", ReportFile = "scaling.json", PlotFile = "scaling.png";

    /// <summary>The case file adherence is measured on: the single-object cases that open <c>eval/heldout.tsv</c>.</summary>
    private const ulong HeldOutCasesSeed = 2026;

    public static Command Create()
    {
        var output = new Option<DirectoryInfo?>("--out") { Description = "Sweep folder (default: ~/.cache/reel/scaling-CONFIG)" };
        var sizes = new Option<string?>("--sizes") { Description = "DiT sizes to fit on, WIDTHxDEPTH,… (default: sized for the configuration)" };
        var budgets = new Option<string?>("--budgets") { Description = "Training FLOPs of each run, comma-separated (default: sized for the configuration)" };
        var heldOut = new Option<string?>("--held-out") { Description = "The larger run to predict, WIDTHxDEPTH@FLOPs" };
        var evalCases = new Option<int>("--eval-cases") { Description = "Single-object cases per adherence point (0: none)", DefaultValueFactory = _ => 24 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the data, initialisation and noise", DefaultValueFactory = _ => 0 };
        var model = new ModelOptions();
        var command = new Command("scaling", "Measure the scaling law of validation loss in training compute") { output, sizes, budgets, heldOut, evalCases, seed };
        model.AddTo(command);
        command.SetAction((result, cancel) => CommandErrors.RunAsync(() =>
        {
            using var source = model.Open(result);
            var settings = Settings(source.Config, result.GetValue(sizes), result.GetValue(budgets), result.GetValue(heldOut)) with { Seed = result.GetValue(seed) };
            var cases = result.GetValue(evalCases);
            if (cases is < 0 or > 96) throw new ModelException("--eval-cases must be 0 to 96.");
            var folder = result.GetValue(output)?.FullName ?? Path.Combine(
                Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reel", $"scaling-{source.Config.Name}");
            var report = Run(new ScalingSweep(folder, source, settings), source, folder, cases, cancel);
            Console.WriteLine(report.ToText());
            Console.WriteLine($"Plot: {Path.Combine(folder, PlotFile)}; figures: {Path.Combine(folder, ReportFile)}");
            return Task.CompletedTask;
        }));
        return command;
    }

    private static ScalingSettings Settings(ModelConfig config, string? sizes, string? budgets, string? heldOut)
    {
        var preset = ScalingSettings.Preset(config);
        if (preset is null && (sizes is null || budgets is null || heldOut is null))
            throw new ModelException($"No sweep is sized for '{config.Name}': give --sizes, --budgets and --held-out.");
        static double Flops(string text) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new ModelException($"'{text}' is not a positive number of FLOPs.");
        var fitSizes = sizes?.Split(',').Select(DitSize.Parse).ToList() ?? preset!.Sizes.ToList();
        var fitBudgets = budgets?.Split(',').Select(Flops).ToList() ?? preset!.Budgets.ToList();
        var (heldSize, heldBudget) = heldOut is null ? (preset!.HeldOutSize, preset.HeldOutBudget)
            : heldOut.Split('@') is [var s, var b] ? (DitSize.Parse(s), Flops(b)) : throw new ModelException($"--held-out '{heldOut}' is not WIDTHxDEPTH@FLOPs.");
        if (fitSizes.Count < 2 || fitBudgets.Distinct().Count() < 3) throw new ModelException("The fit needs at least two sizes and three budgets.");
        if (heldBudget <= fitBudgets.Max()) throw new ModelException("The held-out run must have a larger budget than every run of the fit.");
        foreach (var size in fitSizes.Append(heldSize)) size.Apply(config).Validate();
        var settings = new ScalingSettings { Sizes = fitSizes, Budgets = fitBudgets, HeldOutSize = heldSize, HeldOutBudget = heldBudget };
        return preset is null ? settings : preset with { Sizes = fitSizes, Budgets = fitBudgets, HeldOutSize = heldSize, HeldOutBudget = heldBudget };
    }

    private static ScalingReport Run(ScalingSweep sweep, ReelModel source, string folder, int evalCases, CancellationToken cancel)
    {
        var plan = sweep.Plan().ToList();
        foreach (var (size, budget, heldOut) in plan.Where(p => !p.HeldOut))
        {
            cancel.ThrowIfCancellationRequested();
            sweep.Run(size, budget, heldOut, Console.Error.WriteLine);
        }
        var held = plan.Single(p => p.HeldOut);
        var heldCompute = sweep.Length(held.Size, held.Budget).Compute;
        // The prediction is written before the held-out run trains and never rewritten, so it cannot learn from the result.
        var predictionPath = Path.Combine(folder, PredictionFile);
        if (!File.Exists(predictionPath))
        {
            var before = ScalingReport.Analyse(sweep.Finished().Where(r => !r.HeldOut).ToList(), heldCompute, []);
            File.WriteAllText(predictionPath, JsonSerializer.Serialize(new Prediction(before.Law, heldCompute, before.PredictedLoss, DateTimeOffset.UtcNow), CommandErrors.Json));
            Console.Error.WriteLine($"Predicted the held-out run ({held.Size.Name} at {heldCompute:0.0e0} FLOPs): {before.PredictedLoss:0.0000}.");
        }
        cancel.ThrowIfCancellationRequested();
        sweep.Run(held.Size, held.Budget, true, Console.Error.WriteLine);

        var runs = sweep.Finished();
        var points = Adherence(sweep, source, folder, runs, evalCases, cancel);
        var prediction = JsonSerializer.Deserialize<Prediction>(File.ReadAllText(predictionPath), CommandErrors.Json)!;
        var report = ScalingReport.Analyse(runs, heldCompute, points) with { PredictedLoss = prediction.Loss };
        File.WriteAllText(Path.Combine(folder, ReportFile), JsonSerializer.Serialize(report, CommandErrors.Json));
        ScalingPlot.Save(report, Path.Combine(folder, PlotFile));
        return report;
    }

    /// <summary>
    /// Eval adherence of the frontier's runs at the smallest, middle and largest budget, of the held-out run and of the
    /// trained weights the sweep ran on, on the first <paramref name="count"/> (single-object) cases of the held-out case
    /// file, one seed each; cached per run and per weights.
    /// </summary>
    private static List<AdherencePoint> Adherence(ScalingSweep sweep, ReelModel source, string folder, IReadOnlyList<ScalingRun> runs, int count, CancellationToken cancel)
    {
        if (count == 0) return [];
        var path = Path.Combine(folder, AdherenceFile);
        var points = File.Exists(path) ? JsonSerializer.Deserialize<List<AdherencePoint>>(File.ReadAllText(path), CommandErrors.Json)! : [];
        var cases = EvalCases.Parse(EvalCases.Write(240, HeldOutCasesSeed)).Take(count).ToList();
        void Measure(string name, double? budget, Func<ReelModel> open, Func<ReelModel, double> validationLoss)
        {
            if (points.Any(p => p.Size == name && p.Budget == budget)) return;
            cancel.ThrowIfCancellationRequested();
            var model = open();
            try
            {
                var all = EvalCommand.Run(cases, model.Config, model, new EvalCommand.EvalSettings(1), cancel).Generated["all"];
                points.Add(new AdherencePoint(name, budget, validationLoss(model), all.Clips, all.Colour ?? 0, all.Shape ?? 0, all.Motion ?? 0, all.Presence ?? 0));
            }
            finally
            {
                // The weights the sweep runs on stay open for it.
                if (model != source) model.Dispose();
            }
            File.WriteAllText(path, JsonSerializer.Serialize(points, CommandErrors.Json));
            Console.Error.WriteLine($"Adherence of {name}{(budget is { } b ? $" at {b:0.0e0} FLOPs" : "")}: {points[^1].Adherence:0.0}%.");
        }
        var frontier = ScalingReport.FrontierOf(runs);
        foreach (var run in new[] { frontier[0], frontier[frontier.Count / 2], frontier[^1] }.Distinct().Concat(runs.Where(r => r.HeldOut)))
            Measure(run.Size, run.Budget, () => ReelModel.Load(sweep.WeightsOf(run.Size, run.Budget)), _ => run.ValidationLoss);
        // The weights the sweep ran on, when trained: the same measures far beyond the sweep's compute.
        if (source.WeightsHash is { } hash) Measure($"weights {hash["sha256:".Length..][..12]}", null, () => source, sweep.ValidationLoss);
        return points.OrderBy(p => p.ValidationLoss).ToList();
    }

    private sealed record Prediction(ScalingLaw Law, double Compute, double Loss, DateTimeOffset MadeAt);
}
