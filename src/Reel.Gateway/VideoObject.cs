using Reel.Abstractions;

namespace Reel.Gateway;

/// <summary>
/// The OpenAI <c>Video</c> object, plus Reel's own fields (documented in docs/contracts.md, ignored by the SDK).
/// A cancelled session reads <c>failed</c> with error code <c>cancelled</c>: the SDK knows four statuses.
/// </summary>
public sealed record VideoObject(
    string Id,
    string Object,
    long CreatedAt,
    long? CompletedAt,
    long? ExpiresAt,
    string Model,
    int Progress,
    string Prompt,
    string? RemixedFromVideoId,
    string Seconds,
    string Size,
    string Status,
    VideoError? Error,
    ReelFields Reel)
{
    /// <summary>The video as the API shows it: the model, size and duration the silo actually made once it started.</summary>
    public static VideoObject From(SessionSnapshot s) => new(
        s.Key.VideoId, "video", s.CreatedAt.ToUnixTimeSeconds(), s.CompletedAt?.ToUnixTimeSeconds(), s.ExpiresAt?.ToUnixTimeSeconds(),
        s.Model is { } name ? ServedRequests.ModelId(name) : "reel",
        (int)Math.Round(s.Progress * 100), s.Request.Prompt, s.Request.RemixedFrom,
        (s.Seconds ?? s.Request.Seconds ?? 0).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
        s.Size ?? (s.Request.Width is { } w && s.Request.Height is { } h ? $"{w}x{h}" : ""),
        StatusOf(s.Status),
        s.Status == SessionStatus.Cancelled ? new VideoError("cancelled", "The video was cancelled.")
            : s.Error is { } e ? new VideoError(e.Code, e.Message) : null,
        new ReelFields(s.Request.Seed, s.Caption, s.Chunk + (s.Chunks > 0 ? 1 : 0), s.Chunks, s.QueuePosition, s.Silo, s.StartedAt?.ToUnixTimeSeconds()));

    /// <summary>The SDK's four statuses: a cancelled video is failed (with error code <c>cancelled</c>).</summary>
    public static string StatusOf(SessionStatus status) => status switch
    {
        SessionStatus.Queued => "queued",
        SessionStatus.InProgress => "in_progress",
        SessionStatus.Completed => "completed",
        _ => "failed",
    };
}

public sealed record VideoError(string Code, string Message);

/// <summary>Reel's own fields: the seed used, the expanded caption, chunk i of N, queue position, the silo running it, when it started.</summary>
public sealed record ReelFields(ulong Seed, string? Caption, int Chunk, int Chunks, int? QueuePosition, string? Silo, long? StartedAt);
