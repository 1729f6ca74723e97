using Reel.Media;

namespace Reel.World;

/// <summary>What is known of one object; null where a prompt leaves it open.</summary>
public sealed record ObjectSpec(Shape? Shape = null, Colour? Colour = null, ObjectSize? Size = null, Motion? Motion = null)
{
    public bool IsComplete => Shape is not null && Colour is not null && Size is not null && Motion is not null;
}

/// <summary>What is known of a scene: its objects and whether a pillar stands in it (null: open).</summary>
public sealed record SceneSpec(IReadOnlyList<ObjectSpec> Objects, bool? Occluder = null);

/// <summary>A rendered clip with its exact ground truth and its descriptive caption.</summary>
public sealed record WorldClip(Scene Scene, SceneSpec Spec, ObjectState[][] Truth, IReadOnlyList<RgbFrame> Frames, string Caption);

/// <summary>
/// Which part of the world clips are drawn from: at most <paramref name="MaxObjects"/> objects, a pillar in
/// <paramref name="PillarChance"/> of the clips. Narrower worlds make fast training experiments.
/// </summary>
public sealed record WorldOptions(int MaxObjects = ProceduralWorld.MaxObjects, double PillarChance = 0.3)
{
    public static WorldOptions Full { get; } = new();

    /// <summary>One object, no pillar.</summary>
    public static WorldOptions SingleObject { get; } = new(1, 0);
}

/// <summary>
/// The procedural world: one to three objects of distinct colours on a plain dark background, each with its own
/// motion, and sometimes a grey pillar they pass behind. Deterministic for a seed; rendered on the fly.
/// </summary>
public static class ProceduralWorld
{
    public const int MaxObjects = 3;

    /// <summary>A random complete scene description (the same draws whatever the options, so seeds line up).</summary>
    public static SceneSpec RandomSpec(WorldRandom random, WorldOptions? options = null)
    {
        options ??= WorldOptions.Full;
        var count = 1 + random.Next(options.MaxObjects);
        var colours = Enum.GetValues<Colour>().OrderBy(_ => random.NextUInt64()).Take(count).ToArray();
        var objects = colours.Select(c => new ObjectSpec(random.Pick(Enum.GetValues<Shape>()), c,
            random.Pick(Enum.GetValues<ObjectSize>()), random.Pick(Enum.GetValues<Motion>()))).ToArray();
        return new SceneSpec(objects, random.Chance(options.PillarChance));
    }

    /// <summary>Fills every open attribute from <paramref name="random"/>, keeping colours distinct.</summary>
    public static SceneSpec Complete(SceneSpec spec, WorldRandom random)
    {
        var used = spec.Objects.Where(o => o.Colour is not null).Select(o => o.Colour!.Value).ToHashSet();
        var objects = spec.Objects.Select(o =>
        {
            var colour = o.Colour ?? Enum.GetValues<Colour>().Where(c => !used.Contains(c)).DefaultIfEmpty(random.Pick(Enum.GetValues<Colour>()))
                .OrderBy(_ => random.NextUInt64()).First();
            used.Add(colour);
            return new ObjectSpec(o.Shape ?? random.Pick(Enum.GetValues<Shape>()), colour,
                o.Size ?? random.Pick(Enum.GetValues<ObjectSize>()), o.Motion ?? random.Pick(Enum.GetValues<Motion>()));
        }).ToArray();
        return new SceneSpec(objects, spec.Occluder ?? false);
    }

    /// <summary>Places a complete description in a frame: starting positions, background and pillar from the seed.</summary>
    public static Scene Build(SceneSpec spec, ulong seed, int width, int height, int frames, int frameRate)
    {
        if (!spec.Objects.All(o => o.IsComplete)) throw new ArgumentException("Every attribute must be known to build a scene.", nameof(spec));
        var random = new WorldRandom(seed);
        var side = Math.Min(width, height);
        var background = ((byte)random.Between(8, 36), (byte)random.Between(8, 36), (byte)random.Between(8, 40));
        Occluder? pillar = spec.Occluder == true ? new Occluder(random.Between(0.36, 0.64) * width - WorldPalette.PillarWidth(side) / 2, WorldPalette.PillarWidth(side)) : null;
        var placed = new List<SceneObject>();
        foreach (var o in spec.Objects)
        {
            var r = WorldPalette.Radius(o.Size!.Value, side);
            SceneObject candidate = null!;
            // Tries to start apart from the others and beside the pillar (so passing behind it is seen, and nothing
            // spends the whole clip hidden).
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var (x, y) = Start(o.Motion!.Value, random, width, height, r);
                candidate = new SceneObject(o.Shape!.Value, o.Colour!.Value, o.Size.Value, o.Motion.Value, x, y);
                var clear = placed.All(p => Math.Abs(p.X - x) + Math.Abs(p.Y - y) > 2.5 * r)
                    && (pillar is null || x + r < pillar.Left || x - r > pillar.Right);
                if (clear) break;
            }
            placed.Add(candidate);
        }
        return new Scene(width, height, frames, frameRate, background, placed, pillar);
    }

    /// <summary>
    /// A starting point: fallers high up, thrown objects at the floor, sliders in the half of the frame away from the
    /// walls they head for (so they are seen moving their way before any bounce).
    /// </summary>
    private static (double X, double Y) Start(Motion motion, WorldRandom random, int width, int height, double r)
    {
        double Along(int direction, int extent) => direction switch
        {
            < 0 => random.Between(0.45 * extent, extent - r - 1),
            > 0 => random.Between(r + 1, 0.55 * extent),
            _ => random.Between(r + 1, extent - r - 1),
        };
        var (h, v) = motion switch
        {
            Motion.Left => (-1, 0), Motion.Right => (1, 0), Motion.Up => (0, -1), Motion.Down => (0, 1),
            Motion.UpLeft => (-1, -1), Motion.UpRight => (1, -1), Motion.DownLeft => (-1, 1), Motion.DownRight => (1, 1),
            _ => (0, 0),
        };
        return motion switch
        {
            Motion.Falls => (Along(0, width), random.Between(r + 1, 0.3 * height)),
            Motion.Thrown => (Along(0, width), height - r - random.Between(0.5, 2)),
            _ => (Along(h, width), Along(v, height)),
        };
    }

    public static WorldClip Render(SceneSpec spec, ulong seed, int width, int height, int frames, int frameRate)
    {
        var scene = Build(spec, seed, width, height, frames, frameRate);
        var truth = Physics.Simulate(scene);
        return new WorldClip(scene, spec, truth, Renderer.Render(scene, truth), Captioner.Describe(spec, new WorldRandom(seed ^ 0x5CA1AB1E)));
    }

    /// <summary>A random clip: the seed decides the scene, its placement and its caption.</summary>
    public static WorldClip Sample(ulong seed, int width, int height, int frames, int frameRate, WorldOptions? options = null)
    {
        var random = new WorldRandom(seed);
        return Render(RandomSpec(random, options), random.NextUInt64(), width, height, frames, frameRate);
    }
}
