using Reel.Training;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public sealed class ScalingLawTests
{
    [Theory]
    [InlineData(40.0, 0.12, 0.9)]
    [InlineData(3.5, 0.3, 0.25)]
    [InlineData(900.0, 0.05, 2.0)]
    public void The_fit_recovers_a_b_and_c_from_points_on_a_known_curve(double a, double b, double c)
    {
        var points = Enumerable.Range(0, 12).Select(i => Math.Pow(10, 12 + i * 0.5)).Select(compute => new ScalingPoint(compute, a * Math.Pow(compute, -b) + c)).ToList();
        var law = ScalingLaw.Fit(points);
        Assert.Equal(b, law.B, 4);
        Assert.Equal(c, law.C, 4);
        Assert.Equal(a, law.A, a * 1e-3);
        Assert.True(law.RSquared > 0.999999);
    }

    [Fact]
    public void Noisy_points_still_give_a_close_fit_and_a_lower_R_squared()
    {
        var random = new Random(7);
        var points = Enumerable.Range(0, 40).Select(i => Math.Pow(10, 13 + i * 0.1))
            .Select(compute => new ScalingPoint(compute, 25 * Math.Pow(compute, -0.15) + 0.5 + (random.NextDouble() - 0.5) * 0.01)).ToList();
        var law = ScalingLaw.Fit(points);
        Assert.InRange(law.B, 0.12, 0.18);
        Assert.InRange(law.RSquared, 0.9, 0.99999);
        Assert.InRange(law.Loss(1e16), 25 * Math.Pow(1e16, -0.15) + 0.5 - 0.01, 25 * Math.Pow(1e16, -0.15) + 0.5 + 0.01);
    }

    [Fact]
    public void A_fit_never_puts_the_loss_floor_below_zero()
    {
        // Three points on a steep curve that a negative floor would pass through exactly.
        var law = ScalingLaw.Fit([new(1e8, 0.93), new(1e9, 0.43), new(3e9, 0.18)]);
        Assert.Equal(0, law.C);
        Assert.True(law.A > 0 && law.B > 0);
    }

    [Fact]
    public void Too_few_or_bad_points_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ScalingLaw.Fit([new(1e12, 1), new(1e13, 0.9)]));
        Assert.Throws<ArgumentException>(() => ScalingLaw.Fit([new(1e12, 1), new(0, 0.9), new(1e14, 0.8)]));
    }
}
