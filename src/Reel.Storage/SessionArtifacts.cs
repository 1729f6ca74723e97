using System.Globalization;
using Reel.Abstractions;

namespace Reel.Storage;

/// <summary>The artifacts a session owns (docs/contracts.md, "Session artifacts"), all under its tenant's prefix.</summary>
public static class SessionArtifacts
{
    public static ArtifactName Folder(SessionKey key) => ArtifactName.Of(key.Tenant, "sessions", key.Session);

    /// <summary>Every session folder of a tenant.</summary>
    public static ArtifactName Sessions(string tenant) => ArtifactName.Of(tenant, "sessions");

    /// <summary>Every upload of a tenant.</summary>
    public static ArtifactName Uploads(string tenant) => ArtifactName.Of(tenant, "uploads");

    /// <summary>
    /// The session an artifact under <see cref="Sessions"/> belongs to, and whether it is working material (chunk
    /// copies, a loop's first pass) that the session needs only while it runs.
    /// </summary>
    public static (string Session, bool Working) Owner(ArtifactName name)
    {
        var parts = name.Value.Split('/');
        if (parts.Length < 4 || parts[1] != "sessions") throw new ArgumentException($"'{name}' is not a session's artifact.", nameof(name));
        return (parts[2], parts[3] is ChunksFolder or LoopHeadFile);
    }

    private const string ChunksFolder = "chunks", LoopHeadFile = "loop-head.safetensors";

    /// <summary>
    /// One chunk's latents as written by one activation (<paramref name="writer"/>): a stale duplicate activation
    /// writes under its own name and can never replace the chunk the state committed.
    /// </summary>
    public static ArtifactName Chunk(SessionKey key, int index, string writer) =>
        ArtifactName.Of(key.Tenant, "sessions", key.Session, ChunksFolder, $"{index:D4}-{writer}.safetensors");

    public static ArtifactName Chunks(SessionKey key) => ArtifactName.Of(key.Tenant, "sessions", key.Session, ChunksFolder);

    /// <summary>The whole video's latent sequence, kept beside the MP4 for extensions and remixes.</summary>
    public static ArtifactName Latents(SessionKey key) => Named(key, "latents.safetensors");

    /// <summary>A loop's first pass: the latents its ends are made from, kept until the session ends.</summary>
    public static ArtifactName LoopHead(SessionKey key) => Named(key, LoopHeadFile);

    public static ArtifactName Video(SessionKey key) => Named(key, "video.mp4");

    public static ArtifactName Thumbnail(SessionKey key) => Named(key, "thumbnail.webp");

    public static ArtifactName Spritesheet(SessionKey key) => Named(key, "spritesheet.jpg");

    /// <summary>
    /// A file a tenant uploaded as a request's input (<paramref name="extension"/> with its dot), deleted when its
    /// session ends; named <c>{yyyyMMddTHHmmssZ}-{32 hex}{ext}</c> so a sweep knows its age without asking the store.
    /// </summary>
    public static ArtifactName NewUpload(string tenant, string extension) =>
        ArtifactName.Of(tenant, "uploads", $"{DateTimeOffset.UtcNow.ToString(UploadTime, CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}{extension}");

    /// <summary>When an upload was stored, from its name; null for a name not made by <see cref="NewUpload"/>.</summary>
    public static DateTimeOffset? UploadedAt(ArtifactName upload) =>
        DateTimeOffset.TryParseExact(upload.Value.Split('/')[^1].Split('-')[0], UploadTime, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal, out var at) ? at : null;

    private const string UploadTime = "yyyyMMdd'T'HHmmss'Z'";

    /// <summary>Whether <paramref name="name"/> is one of <paramref name="tenant"/>'s uploads: a session reads no other tenant's files.</summary>
    public static bool IsUploadOf(string tenant, ArtifactName name) =>
        name.Value.StartsWith($"{tenant}/uploads/", StringComparison.Ordinal) && name.Value.Count(c => c == '/') == 2;

    private static ArtifactName Named(SessionKey key, string file) => ArtifactName.Of(key.Tenant, "sessions", key.Session, file);
}
