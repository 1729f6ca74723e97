namespace Reel.Training;

/// <summary>One training run's point: its training compute (FLOPs) and the validation loss it reached.</summary>
public sealed record ScalingPoint(double Compute, double Loss);

/// <summary>
/// L(C) = a·C^(−b) + c with c ≥ 0, fitted by least squares: for a fixed exponent b the curve is linear in a and c, so
/// the fit solves that exactly and searches b (a coarse grid, then golden-section refinement on the best bracket).
/// </summary>
public sealed record ScalingLaw(double A, double B, double C, double RSquared)
{
    public double Loss(double compute) => A * Math.Pow(compute, -B) + C;

    public static ScalingLaw Fit(IReadOnlyList<ScalingPoint> points)
    {
        if (points.Count < 3) throw new ArgumentException("A scaling law needs at least three runs.", nameof(points));
        if (points.Any(p => !(p.Compute > 0) || !double.IsFinite(p.Loss)))
            throw new ArgumentException("Every run needs positive compute and a finite loss.", nameof(points));
        // Compute is scaled to its geometric mean so that C^(−b) stays within floating-point range for any b.
        var scale = Math.Exp(points.Average(p => Math.Log(p.Compute)));
        double Error(double b) => Solve(points, scale, b).Error;
        var grid = Enumerable.Range(1, 400).Select(i => i * 0.005).ToArray();
        var best = grid.MinBy(Error);
        var (low, high) = (Math.Max(1e-6, best - 0.005), best + 0.005);
        var golden = (Math.Sqrt(5) - 1) / 2;
        for (var i = 0; i < 80; i++)
        {
            var (x1, x2) = (high - golden * (high - low), low + golden * (high - low));
            if (Error(x1) < Error(x2)) high = x2;
            else low = x1;
        }
        var exponent = (low + high) / 2;
        var (a, c, error) = Solve(points, scale, exponent);
        var mean = points.Average(p => p.Loss);
        var total = points.Sum(p => (p.Loss - mean) * (p.Loss - mean));
        // a was fitted against C/scale: a·(C/scale)^(−b) = (a·scale^b)·C^(−b).
        return new ScalingLaw(a * Math.Pow(scale, exponent), exponent, c, total > 0 ? 1 - error / total : 1);
    }

    /// <summary>The least-squares a and c for a fixed b, and the squared error they leave.</summary>
    private static (double A, double C, double Error) Solve(IReadOnlyList<ScalingPoint> points, double scale, double b)
    {
        var x = points.Select(p => Math.Pow(p.Compute / scale, -b)).ToArray();
        var (n, sx, sy) = (points.Count, x.Sum(), points.Sum(p => p.Loss));
        var sxx = x.Sum(v => v * v);
        var sxy = x.Zip(points, (v, p) => v * p.Loss).Sum();
        var denominator = n * sxx - sx * sx;
        var a = Math.Abs(denominator) < 1e-300 ? 0 : (n * sxy - sx * sy) / denominator;
        var c = (sy - a * sx) / n;
        // A loss has no negative floor: when the free fit wants one, the best curve through zero is the answer.
        if (c < 0) (a, c) = (sxy / sxx, 0);
        var error = x.Zip(points, (v, p) => Math.Pow(a * v + c - p.Loss, 2)).Sum();
        return (a, c, error);
    }
}
