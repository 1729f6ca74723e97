namespace Reel.Training;

/// <summary>The compute-optimal DiT size at one budget: where validation loss is lowest across sizes.</summary>
public sealed record OptimalSize(double Budget, string BestRun, long BestParameters, double EstimatedParameters);

/// <summary>
/// Adherence of one model's samples (<c>reel eval</c> on single-object cases) beside its validation loss: a run of the
/// sweep (size and budget), or the trained weights the sweep ran on (their hash, no budget).
/// </summary>
public sealed record AdherencePoint(string Size, double? Budget, double ValidationLoss, int Clips, double Colour, double Shape, double Motion, double Presence)
{
    /// <summary>Mean of colour, shape and motion: how often a clip shows what its prompt says.</summary>
    public double Adherence => Math.Round((Colour + Shape + Motion) / 3, 1);
}

/// <summary>What the sweep measured: the runs, the law fitted to the frontier, the optimal sizes and the prediction.</summary>
public sealed record ScalingReport(
    IReadOnlyList<ScalingRun> Runs,
    IReadOnlyList<ScalingRun> Frontier,
    ScalingLaw Law,
    IReadOnlyList<OptimalSize> OptimalSizes,
    double HeldOutCompute,
    double PredictedLoss,
    ScalingRun? HeldOut,
    IReadOnlyList<AdherencePoint> Adherence)
{
    /// <summary>
    /// Fits L(C) = a·C^(−b) + c to the frontier — the lowest validation loss reached at each budget — and estimates the
    /// best size per budget from a parabola in log N through the losses of the sizes (the vertex when it lies among them).
    /// </summary>
    public static ScalingReport Analyse(IReadOnlyList<ScalingRun> runs, double heldOutCompute, IReadOnlyList<AdherencePoint> adherence)
    {
        var frontier = FrontierOf(runs);
        var law = ScalingLaw.Fit(frontier.Select(r => new ScalingPoint(r.Compute, r.ValidationLoss)).ToList());
        var optimal = frontier.Select(best => new OptimalSize(best.Budget, best.Size, best.Parameters,
            Math.Round(Vertex(runs.Where(r => !r.HeldOut && r.Budget == best.Budget).ToList()) ?? best.Parameters))).ToList();
        return new ScalingReport(runs, frontier, law, optimal, heldOutCompute, law.Loss(heldOutCompute), runs.FirstOrDefault(r => r.HeldOut), adherence);
    }

    /// <summary>The best run of the fit at each budget, smallest budget first.</summary>
    public static IReadOnlyList<ScalingRun> FrontierOf(IEnumerable<ScalingRun> runs) =>
        runs.Where(r => !r.HeldOut).GroupBy(r => r.Budget).OrderBy(g => g.Key).Select(g => g.MinBy(r => r.ValidationLoss)!).ToList();

    /// <summary>The parameter count at the minimum of a least-squares parabola in log10 N, when it opens upward and lies within the sizes.</summary>
    private static double? Vertex(IReadOnlyList<ScalingRun> runs)
    {
        if (runs.Count < 3) return null;
        var x = runs.Select(r => Math.Log10(r.Parameters)).ToArray();
        var y = runs.Select(r => r.ValidationLoss).ToArray();
        // Normal equations of y = p0 + p1·x + p2·x², x centred for conditioning.
        var mean = x.Average();
        var xc = x.Select(v => v - mean).ToArray();
        double S(int k) => xc.Sum(v => Math.Pow(v, k));
        double T(int k) => xc.Zip(y, (v, w) => Math.Pow(v, k) * w).Sum();
        var m = new[,] { { runs.Count, S(1), S(2) }, { S(1), S(2), S(3) }, { S(2), S(3), S(4) } };
        var p = Solve3(m, [T(0), T(1), T(2)]);
        if (p is null || p[2] <= 0) return null;
        var vertex = -p[1] / (2 * p[2]) + mean;
        return vertex >= x.Min() && vertex <= x.Max() ? Math.Pow(10, vertex) : null;
    }

    private static double[]? Solve3(double[,] m, double[] v)
    {
        double Det(double[,] a) =>
            a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]) - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0]) + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]);
        var det = Det(m);
        if (Math.Abs(det) < 1e-12) return null;
        return Enumerable.Range(0, 3).Select(col =>
        {
            var replaced = (double[,])m.Clone();
            for (var row = 0; row < 3; row++) replaced[row, col] = v[row];
            return Det(replaced) / det;
        }).ToArray();
    }

    public string ToText()
    {
        var lines = new List<string>
        {
            "size        params    budget    steps  val loss   seconds",
        };
        lines.AddRange(Runs.OrderBy(r => r.HeldOut).ThenBy(r => r.Budget).ThenBy(r => r.Parameters).Select(r =>
            $"{r.Size + (r.HeldOut ? "*" : ""),-10} {r.Parameters / 1e6,7:0.000}M {r.Budget,9:0.0e0} {r.Steps,8} {r.ValidationLoss,9:0.0000} {r.Seconds,9:0}"));
        lines.Add($"L(C) = {Law.A:0.###e0}·C^(−{Law.B:0.0000}) + {Law.C:0.0000}   (R² = {Law.RSquared:0.0000}, fitted on the frontier of {Frontier.Count} budgets)");
        lines.AddRange(OptimalSizes.Select(o => $"compute-optimal at {o.Budget:0.0e0} FLOPs: {o.BestRun} ({o.BestParameters / 1e6:0.000}M); parabola estimate {o.EstimatedParameters / 1e6:0.000}M"));
        lines.Add($"held-out run at {HeldOutCompute:0.0e0} FLOPs: predicted {PredictedLoss:0.0000}"
            + (HeldOut is { } h ? $", measured {h.ValidationLoss:0.0000} ({h.Size}, {(h.ValidationLoss - PredictedLoss) / PredictedLoss * 100:+0.0;-0.0}%)" : ", not trained yet"));
        lines.AddRange(Adherence.Select(a =>
            $"{a.Size}{(a.Budget is { } b ? $"@{b:0.0e0}" : "")}: val loss {a.ValidationLoss:0.0000} → adherence {a.Adherence:0.0}% (colour {a.Colour:0.0}, shape {a.Shape:0.0}, motion {a.Motion:0.0}, presence {a.Presence:0.0}; {a.Clips} clips)"));
        return string.Join('\n', lines);
    }
}
