using Reel.Abstractions;
using Reel.Model;

namespace Reel.Grains;

/// <summary>The name of the grain storage provider sessions and pools persist to (memory when embedded, Redis when distributed).</summary>
public static class ReelStorage
{
    public const string Name = "reel";
}

/// <summary>A session's persistent state, committed (ETag-fenced) after every chunk.</summary>
[GenerateSerializer]
public sealed class SessionState
{
    [Id(0)] public VideoRequest? Request { get; set; }

    /// <summary>The chunk plan from the model library's chunk planner.</summary>
    [Id(1)] public List<PlannedChunk> Plan { get; set; } = [];

    /// <summary>How many chunks have their latents written and committed: chunks [0, Committed).</summary>
    [Id(2)] public int Committed { get; set; }

    [Id(3)] public SessionStatus Status { get; set; }
    [Id(4)] public double Progress { get; set; }
    [Id(5)] public SessionError? Error { get; set; }

    /// <summary>The silo the session runs on and the chunk it is on.</summary>
    [Id(6)] public string? Silo { get; set; }
    [Id(7)] public int Chunk { get; set; }

    [Id(8)] public string? WeightsHash { get; set; }
    [Id(9)] public string? Caption { get; set; }

    /// <summary>The sequence number of the newest progress event.</summary>
    [Id(10)] public long Seq { get; set; }

    [Id(11)] public DateTimeOffset CreatedAt { get; set; }
    [Id(12)] public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>For each committed chunk, its latents artifact and the silo that made it.</summary>
    [Id(13)] public List<string> ChunkArtifacts { get; set; } = [];
    [Id(14)] public List<string> ChunkSilos { get; set; } = [];

    /// <summary>What the model made of the request: the model's name, the frame size, the duration in seconds.</summary>
    [Id(15)] public string? Model { get; set; }
    [Id(16)] public string? Size { get; set; }
    [Id(17)] public double? Seconds { get; set; }

    /// <summary>Whether a loop's first pass is written (<c>loop-head.safetensors</c>); it is made once.</summary>
    [Id(18)] public bool LoopHeadCommitted { get; set; }

    [Id(19)] public DateTimeOffset? StartedAt { get; set; }
    [Id(20)] public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>Model time spent on the session (its chunks, a loop's first pass, the decode), as of the last commit.</summary>
    [Id(21)] public double ModelSeconds { get; set; }

    /// <summary>The tenant's share of the pool when the session started: it weighs the session's steps on a model silo.</summary>
    [Id(22)] public double Share { get; set; } = 1;
}

/// <summary>A <see cref="ChunkSpan"/> as stored.</summary>
[GenerateSerializer, Immutable]
public sealed record PlannedChunk(
    [property: Id(0)] int Index,
    [property: Id(1)] int Start,
    [property: Id(2)] int Length,
    [property: Id(3)] int GivenFromPrevious,
    [property: Id(4)] ulong Seed)
{
    public static PlannedChunk From(ChunkSpan span) => new(span.Index, span.Start, span.Length, span.GivenFromPrevious, span.Seed);

    public ChunkSpan ToSpan() => new(Index, Start, Length, GivenFromPrevious, Seed);
}
