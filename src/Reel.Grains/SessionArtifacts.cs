using Reel.Abstractions;
using Reel.Storage;

namespace Reel.Grains;

/// <summary>The artifacts a session owns (docs/contracts.md, "Session artifacts"), all under its tenant's prefix.</summary>
public static class SessionArtifacts
{
    public static ArtifactName Folder(SessionKey key) => ArtifactName.Of(key.Tenant, "sessions", key.Session);

    /// <summary>One committed chunk's latents; a retry of the chunk overwrites the same name.</summary>
    public static ArtifactName Chunk(SessionKey key, int index) => ArtifactName.Of(key.Tenant, "sessions", key.Session, "chunks", $"{index:D4}.safetensors");

    /// <summary>The whole video's latent sequence, kept beside the MP4 for extensions and remixes.</summary>
    public static ArtifactName Latents(SessionKey key) => Named(key, "latents.safetensors");

    public static ArtifactName Video(SessionKey key) => Named(key, "video.mp4");

    public static ArtifactName Thumbnail(SessionKey key) => Named(key, "thumbnail.webp");

    public static ArtifactName Spritesheet(SessionKey key) => Named(key, "spritesheet.jpg");

    private static ArtifactName Named(SessionKey key, string file) => ArtifactName.Of(key.Tenant, "sessions", key.Session, file);
}
