namespace Reel.World;

public enum Shape { Disc, Square, Triangle }

public enum Colour { Red, Orange, Yellow, Green, Cyan, Blue, Magenta, White }

public enum ObjectSize { Small, Large }

/// <summary>Sliding in one of eight directions (bouncing off the walls), falling, thrown upward, or resting.</summary>
public enum Motion { Left, Right, Up, Down, UpLeft, UpRight, DownLeft, DownRight, Falls, Thrown, Rests }

public static class Slides
{
    /// <summary>The slide with horizontal sign <paramref name="h"/> and vertical sign <paramref name="v"/> (y down); null for (0, 0).</summary>
    public static Motion? FromSigns(int h, int v) => (h, v) switch
    {
        (-1, 0) => Motion.Left,
        (1, 0) => Motion.Right,
        (0, -1) => Motion.Up,
        (0, 1) => Motion.Down,
        (-1, -1) => Motion.UpLeft,
        (1, -1) => Motion.UpRight,
        (-1, 1) => Motion.DownLeft,
        (1, 1) => Motion.DownRight,
        _ => null,
    };
}

public static class WorldPalette
{
    public static (byte R, byte G, byte B) Rgb(Colour colour) => colour switch
    {
        Colour.Red => (230, 40, 40),
        Colour.Orange => (245, 145, 30),
        Colour.Yellow => (240, 225, 40),
        Colour.Green => (40, 200, 70),
        Colour.Cyan => (40, 215, 225),
        Colour.Blue => (50, 90, 240),
        Colour.Magenta => (225, 50, 215),
        _ => (245, 245, 245),
    };

    public static readonly (byte R, byte G, byte B) Pillar = (120, 120, 120);

    /// <summary>Radius of an object of <paramref name="size"/> in a frame whose shorter side is <paramref name="side"/> pixels.</summary>
    public static double Radius(ObjectSize size, int side) => (size == ObjectSize.Small ? 0.08 : 0.12) * side;

    /// <summary>The pillar is wider than the largest object, so an object can pass wholly behind it.</summary>
    public static double PillarWidth(int side) => 0.28 * side;
}

/// <summary>One object: what it is and how it starts. Positions are pixel centres, y downward.</summary>
public sealed record SceneObject(Shape Shape, Colour Colour, ObjectSize Size, Motion Motion, double X, double Y);

/// <summary>A grey pillar over the full height, between <see cref="Left"/> and <see cref="Left"/> + width.</summary>
public sealed record Occluder(double Left, double Width)
{
    public double Right => Left + Width;
}

/// <summary>Everything needed to render a clip exactly: size, length, background, objects and the optional pillar.</summary>
public sealed record Scene(int Width, int Height, int Frames, int FrameRate, (byte R, byte G, byte B) Background,
    IReadOnlyList<SceneObject> Objects, Occluder? Occluder);

/// <summary>Where one object is in one frame, and whether the pillar hides it wholly or in part.</summary>
public readonly record struct ObjectState(double X, double Y, double Radius, bool Hidden, bool PartlyHidden);
