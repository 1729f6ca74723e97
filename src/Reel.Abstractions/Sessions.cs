namespace Reel.Abstractions;

/// <summary>
/// What a tenant asks for. With no input it is text-to-video; <see cref="Image"/>, <see cref="Extend"/>,
/// <see cref="Edit"/> and <see cref="Connect"/> are the other modes (one at a time; a loop may start from an image).
/// Sizes, lengths and inputs are checked by the model silo.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record VideoRequest
{
    [Id(0)] public required string Prompt { get; init; }

    /// <summary>Frame size; null (both) takes the model's default size.</summary>
    [Id(1)] public int? Width { get; init; }
    [Id(2)] public int? Height { get; init; }

    /// <summary>Exact frame count, 1 + k·f_t of the model; null takes <see cref="Seconds"/>.</summary>
    [Id(3)] public int? Frames { get; init; }

    /// <summary>Duration, rounded up to the model's next valid frame count (as `reel generate --seconds`); null with no <see cref="Frames"/> is 2 s.</summary>
    [Id(9)] public double? Seconds { get; init; }

    [Id(4)] public required ulong Seed { get; init; }

    /// <summary>Denoising steps; null uses the model's default.</summary>
    [Id(5)] public int? Steps { get; init; }

    /// <summary>Classifier-free guidance scale; null uses the model's default.</summary>
    [Id(6)] public double? Guidance { get; init; }

    /// <summary><c>euler</c> or <c>heun</c>.</summary>
    [Id(7)] public string Solver { get; init; } = "euler";

    /// <summary>Expand the prompt into a detailed caption (as <c>reel generate</c> does unless --no-expand).</summary>
    [Id(8)] public bool Expand { get; init; } = true;

    /// <summary>Image-to-video: the video starts with this image.</summary>
    [Id(10)] public MediaInput? Image { get; init; }

    /// <summary>Extension: the output is this video and, after it, <see cref="Seconds"/> more by latent continuation.</summary>
    [Id(11)] public MediaInput? Extend { get; init; }

    /// <summary>Video-to-video (SDEdit): this video re-generated under the prompt at <see cref="Strength"/>; its length is kept.</summary>
    [Id(12)] public MediaInput? Edit { get; init; }

    /// <summary>With <see cref="Edit"/>: how much changes, in (0, 1]; null is the model library's default (0.6, as <c>reel generate --edit</c>).</summary>
    [Id(13)] public double? Strength { get; init; }

    /// <summary>Two videos A and B: the output is A, a bridge of <see cref="Seconds"/>, then B.</summary>
    [Id(14)] public IReadOnlyList<MediaInput> Connect { get; init; } = [];

    /// <summary>The output loops: its last frame leads into its first.</summary>
    [Id(15)] public bool Loop { get; init; }

    /// <summary>The video id this one remixes (an <see cref="Edit"/> of it under a new prompt).</summary>
    [Id(16)] public string? RemixedFrom { get; init; }

    /// <summary>How long the video is kept once it ends (the tenant's retention); null keeps it until deleted.</summary>
    [Id(17)] public TimeSpan? Retention { get; init; }

    /// <summary>With <see cref="Extend"/>: the new part leads into the video instead of following it.</summary>
    [Id(18)] public bool Backward { get; init; }

    /// <summary>
    /// A size beyond the model's pixel budget is made rather than refused (<c>reel generate --any-size</c>; the HTTP API
    /// never sets it).
    /// </summary>
    [Id(19)] public bool AnySize { get; init; }

    /// <summary>Every input the request names.</summary>
    public IEnumerable<MediaInput> Inputs => new[] { Image, Extend, Edit }.OfType<MediaInput>().Concat(Connect);
}

/// <summary>
/// A picture or video a request starts from: an upload the gateway stored in the artifact store (an artifact name
/// under the tenant's <c>uploads/</c>), one of the tenant's own videos, or — for <c>reel generate</c> only — a file on
/// the local disk (a model silo refuses those).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record MediaInput
{
    [Id(0)] public string? Upload { get; init; }
    [Id(1)] public SessionKey? Video { get; init; }
    [Id(2)] public string? File { get; init; }

    public static MediaInput Uploaded(string artifact) => new() { Upload = artifact };

    public static MediaInput Of(SessionKey video) => new() { Video = video };

    public static MediaInput Local(string path) => new() { File = path };
}

/// <summary>The lifecycle of a session; the names are the HTTP API's statuses.</summary>
public enum SessionStatus
{
    Queued,
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

[GenerateSerializer, Immutable]
public sealed record SessionError([property: Id(0)] string Code, [property: Id(1)] string Message);

/// <summary>Where a session stands, as any caller sees it.</summary>
[GenerateSerializer, Immutable]
public sealed record SessionSnapshot
{
    [Id(0)] public required SessionKey Key { get; init; }
    [Id(1)] public required SessionStatus Status { get; init; }
    [Id(2)] public required VideoRequest Request { get; init; }

    /// <summary>0 to 1 over the whole video (chunks and their denoising steps).</summary>
    [Id(3)] public double Progress { get; init; }

    /// <summary>The chunk being made (0-based) and how many there are; 0 of 0 before the plan exists.</summary>
    [Id(4)] public int Chunk { get; init; }
    [Id(5)] public int Chunks { get; init; }
    [Id(6)] public int CommittedChunks { get; init; }

    /// <summary>1-based place in the pool's admission queue while queued.</summary>
    [Id(7)] public int? QueuePosition { get; init; }

    /// <summary>The silo the session runs (or last ran) on.</summary>
    [Id(8)] public string? Silo { get; init; }

    [Id(9)] public string? WeightsHash { get; init; }
    [Id(10)] public string? Caption { get; init; }
    [Id(11)] public SessionError? Error { get; init; }

    /// <summary>The sequence number of the newest progress event.</summary>
    [Id(12)] public long Seq { get; init; }

    [Id(13)] public DateTimeOffset CreatedAt { get; init; }
    [Id(14)] public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>The silo that made each committed chunk.</summary>
    [Id(15)] public IReadOnlyList<string> ChunkSilos { get; init; } = [];

    /// <summary>What the model silo made of the request: the model's name, the frame size and the duration.</summary>
    [Id(16)] public string? Model { get; init; }
    [Id(17)] public string? Size { get; init; }
    [Id(18)] public double? Seconds { get; init; }

    /// <summary>When a model silo first started it, and when it expires (its end plus the tenant's retention).</summary>
    [Id(19)] public DateTimeOffset? StartedAt { get; init; }
    [Id(20)] public DateTimeOffset? ExpiresAt { get; init; }

    public bool IsFinished => Status is SessionStatus.Completed or SessionStatus.Failed or SessionStatus.Cancelled;
}

/// <summary>One step of a session's progress; <see cref="Seq"/> orders them and lets a broken stream resume.</summary>
[GenerateSerializer, Immutable]
public sealed record ProgressEvent(
    [property: Id(0)] long Seq,
    [property: Id(1)] SessionStatus Status,
    [property: Id(2)] double Progress,
    [property: Id(3)] int Chunk,
    [property: Id(4)] int Chunks,
    [property: Id(5)] string Message,
    [property: Id(6)] DateTimeOffset At);

/// <summary>The events after the caller's sequence number (possibly none) and the session as it now stands.</summary>
[GenerateSerializer, Immutable]
public sealed record WatchResult([property: Id(0)] IReadOnlyList<ProgressEvent> Events, [property: Id(1)] SessionSnapshot Snapshot);

/// <summary>A model silo's load as it publishes it to its pool (docs/contracts.md, "Silo load").</summary>
[GenerateSerializer, Immutable]
public sealed record SiloLoad(
    [property: Id(0)] SiloAddress Silo,
    [property: Id(1)] string Pool,
    [property: Id(2)] string WeightsHash,
    [property: Id(3)] int MaxSessions,
    [property: Id(4)] IReadOnlyList<string> Running,
    [property: Id(5)] bool Draining,
    [property: Id(6)] DateTimeOffset At,
    [property: Id(7)] ServedModel Model)
{
    public int FreeSlots => Draining ? 0 : Math.Max(0, MaxSessions - Running.Count);
}

/// <summary>The one load rule: admission, resume, moves and placement all choose a silo through it.</summary>
public static class SiloChoice
{
    /// <summary>
    /// The silos that can take a session of <paramref name="weightsVersion"/> — its weights (the exact
    /// <paramref name="weightsHash"/> when given: a started session continues on the weights it began with), a free
    /// slot, not draining, not <paramref name="except"/> — fewest running sessions first.
    /// </summary>
    public static IEnumerable<SiloLoad> ByLoad(IEnumerable<SiloLoad> loads, string weightsVersion, string? weightsHash = null, SiloAddress? except = null) =>
        loads.Where(l => l.FreeSlots > 0 && !l.Silo.Equals(except) && WeightsVersion.Matches(weightsVersion, l.WeightsHash)
                && (weightsHash is null || l.WeightsHash == weightsHash))
            .OrderBy(l => l.Running.Count);
}

/// <summary>
/// What a model silo serves, from its weights' configuration: the gateway validates and maps requests against it.
/// <see cref="Sizes"/> and <see cref="Durations"/> are the trained ones; any duration up to <see cref="MaxSeconds"/> can be made.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ServedModel(
    [property: Id(0)] string Name,
    [property: Id(1)] IReadOnlyList<string> Sizes,
    [property: Id(2)] int SizeMultiple,
    [property: Id(3)] int FrameRate,
    [property: Id(4)] double MaxSeconds,
    [property: Id(5)] IReadOnlyList<double> Durations);
