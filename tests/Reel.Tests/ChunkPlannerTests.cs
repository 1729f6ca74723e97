using Reel.Model;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class ChunkPlannerTests
{
    private static readonly ModelConfig Config = ModelConfig.Test; // chunks of 3 latent frames, overlap 1

    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(13)]
    [InlineData(33)]
    [InlineData(161)]
    public void Chunks_cover_the_timeline_with_the_configured_overlap(int frames)
    {
        var plan = ChunkPlanner.Plan(Config, frames, seed: 7);
        Assert.Equal(FrameCount.ToLatent(Config, frames), plan.LatentFrames);
        Assert.Equal(0, plan.Chunks[0].Start);
        Assert.Equal(0, plan.Chunks[0].GivenFromPrevious);
        Assert.Equal(plan.LatentFrames, plan.Chunks[^1].End);
        for (var i = 1; i < plan.Chunks.Count; i++)
        {
            var (before, chunk) = (plan.Chunks[i - 1], plan.Chunks[i]);
            Assert.Equal(before.End - Config.OverlapLatentFrames, chunk.Start);
            Assert.Equal(Config.OverlapLatentFrames, chunk.GivenFromPrevious);
            Assert.InRange(chunk.Length, Config.OverlapLatentFrames + 1, Config.ChunkLatentFrames);
        }
        Assert.Equal(plan.LatentFrames, plan.Chunks.Sum(c => c.NewFrames));
    }

    [Fact]
    public void Chunk_seeds_follow_the_documented_formula_and_differ()
    {
        var plan = ChunkPlanner.Plan(Config, 33, seed: 42);
        Assert.Equal(plan.Chunks.Count, plan.Chunks.Select(c => c.Seed).Distinct().Count());
        Assert.All(plan.Chunks, c => Assert.Equal(ChunkPlanner.ChunkSeed(42, c.Index), c.Seed));
        // SplitMix64 of 42 + 0x9E3779B97F4A7C15: the first output of the reference SplitMix64 seeded with 42.
        Assert.Equal(0xBDD732262FEB6E95UL, ChunkPlanner.ChunkSeed(42, 0));
        Assert.NotEqual(ChunkPlanner.ChunkSeed(43, 0), ChunkPlanner.ChunkSeed(42, 0));
    }
}
