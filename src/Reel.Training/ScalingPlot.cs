using ScottPlot;

namespace Reel.Training;

/// <summary>The sweep as a PNG: each size's runs, the frontier, the fitted law, the prediction and the held-out result.</summary>
public static class ScalingPlot
{
    public static void Save(ScalingReport report, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var sizes = report.Runs.Where(r => !r.HeldOut).GroupBy(r => r.Size).OrderBy(g => g.First().Parameters).ToList();
        for (var i = 0; i < sizes.Count; i++)
        {
            var runs = sizes[i].OrderBy(r => r.Compute).ToList();
            var line = plot.Add.Scatter(runs.Select(r => Math.Log10(r.Compute)).ToArray(), runs.Select(r => r.ValidationLoss).ToArray(), palette.GetColor(i));
            line.LegendText = $"{sizes[i].Key} ({runs[0].Parameters / 1e6:0.00}M)";
            line.MarkerSize = 7;
        }
        var frontier = plot.Add.Markers(report.Frontier.Select(r => Math.Log10(r.Compute)).ToArray(), report.Frontier.Select(r => r.ValidationLoss).ToArray(),
            MarkerShape.OpenCircle, 16, Colors.Black);
        frontier.LegendText = "frontier (fitted)";

        var (low, high) = (Math.Log10(report.Runs.Min(r => r.Compute)), Math.Log10(Math.Max(report.HeldOutCompute, report.Runs.Max(r => r.Compute))));
        var xs = Enumerable.Range(0, 101).Select(i => low + (high - low) * i / 100).ToArray();
        var law = plot.Add.ScatterLine(xs, xs.Select(x => report.Law.Loss(Math.Pow(10, x))).ToArray(), Colors.Black);
        law.LinePattern = LinePattern.Dashed;
        law.LegendText = $"L(C) = {report.Law.A:0.##e0}·C^-{report.Law.B:0.000} + {report.Law.C:0.000}, R² {report.Law.RSquared:0.000}";

        var predicted = plot.Add.Marker(Math.Log10(report.HeldOutCompute), report.PredictedLoss, MarkerShape.OpenDiamond, 18, Colors.Red);
        predicted.LegendText = $"predicted {report.PredictedLoss:0.0000}";
        if (report.HeldOut is { } held)
        {
            var measured = plot.Add.Marker(Math.Log10(held.Compute), held.ValidationLoss, MarkerShape.FilledDiamond, 12, Colors.Red);
            measured.LegendText = $"held-out {held.Size} ({held.Parameters / 1e6:0.00}M): {held.ValidationLoss:0.0000}";
        }
        plot.Title("Validation loss against training compute");
        plot.XLabel("log10 training FLOPs");
        plot.YLabel("validation loss (flow matching)");
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 1200, 600);
    }
}
