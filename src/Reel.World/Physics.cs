namespace Reel.World;

/// <summary>
/// Exact trajectories: constant-speed slides with wall bounces, gravity with damped floor bounces, throws, rest.
/// Integrated in closed form within each frame interval, so the truth does not depend on a step size.
/// </summary>
public static class Physics
{
    /// <summary>Slide speed, in frame sides (shorter side) per second.</summary>
    public const double SlideSpeed = 0.45;

    /// <summary>Gravity, in frame heights per second².</summary>
    public const double Gravity = 1.8;

    /// <summary>Fraction of vertical speed kept in a floor bounce.</summary>
    public const double Restitution = 0.7;

    public static ObjectState[][] Simulate(Scene scene)
    {
        var states = new ObjectState[scene.Frames][];
        for (var f = 0; f < scene.Frames; f++) states[f] = new ObjectState[scene.Objects.Count];
        var side = Math.Min(scene.Width, scene.Height);
        for (var i = 0; i < scene.Objects.Count; i++)
        {
            var o = scene.Objects[i];
            var r = WorldPalette.Radius(o.Size, side);
            var (x, y) = (o.X, o.Y);
            var (vx, vy) = InitialVelocity(o.Motion, side, scene.Height, y);
            var g = o.Motion is Motion.Falls or Motion.Thrown ? Gravity * scene.Height : 0;
            var dt = 1.0 / scene.FrameRate;
            for (var f = 0; f < scene.Frames; f++)
            {
                states[f][i] = State(scene, x, y, r);
                (x, vx) = Bounce(x + vx * dt, vx, r, scene.Width - r, 1.0);
                var yNext = y + vy * dt + 0.5 * g * dt * dt;
                vy += g * dt;
                (y, vy) = g > 0 ? Bounce(yNext, vy, double.NegativeInfinity, scene.Height - r, Restitution) : Bounce(yNext, vy, r, scene.Height - r, 1.0);
            }
        }
        return states;
    }

    private static (double Vx, double Vy) InitialVelocity(Motion motion, int side, int height, double y)
    {
        var s = SlideSpeed * side;
        var d = s / Math.Sqrt(2);
        return motion switch
        {
            Motion.Left => (-s, 0),
            Motion.Right => (s, 0),
            Motion.Up => (0, -s),
            Motion.Down => (0, s),
            Motion.UpLeft => (-d, -d),
            Motion.UpRight => (d, -d),
            Motion.DownLeft => (-d, d),
            Motion.DownRight => (d, d),
            // Thrown from low down so that its centre peaks at 30% of the height from the top.
            Motion.Thrown => (0, -Math.Sqrt(2 * Gravity * height * Math.Max(0, y - 0.3 * height))),
            _ => (0, 0),
        };
    }

    /// <summary>Reflects a coordinate that crossed [low, high], scaling the speed by the restitution.</summary>
    private static (double Position, double Velocity) Bounce(double p, double v, double low, double high, double restitution)
    {
        if (p > high && v > 0) return (high - (p - high) * restitution, -v * restitution);
        if (p < low && v < 0) return (low + (low - p) * restitution, -v * restitution);
        return (p, v);
    }

    private static ObjectState State(Scene scene, double x, double y, double r)
    {
        if (scene.Occluder is not { } pillar) return new ObjectState(x, y, r, false, false);
        var hidden = x - r >= pillar.Left && x + r <= pillar.Right;
        var partly = !hidden && x + r > pillar.Left && x - r < pillar.Right;
        return new ObjectState(x, y, r, hidden, partly);
    }
}
