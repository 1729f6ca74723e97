namespace Reel.World;

/// <summary>SplitMix64: a tiny generator whose sequence is fixed forever, so a seed names the same clip on any build.</summary>
public sealed class WorldRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        unchecked
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public double Between(double low, double high) => low + (high - low) * NextDouble();

    public int Next(int count) => (int)(NextUInt64() % (ulong)count);

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    public bool Chance(double probability) => NextDouble() < probability;
}
