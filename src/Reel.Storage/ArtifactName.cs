using System.Text.RegularExpressions;

namespace Reel.Storage;

/// <summary>
/// The name of one artifact: slash-separated segments of letters, digits, '-', '_' and '.', never "." or "..", so a
/// name cannot climb out of its tenant's prefix whatever a caller puts in a segment.
/// </summary>
public sealed partial record ArtifactName
{
    private ArtifactName(string value) => Value = value;

    public string Value { get; }

    public static ArtifactName Of(params string[] segments)
    {
        foreach (var segment in segments)
            if (!Segment().IsMatch(segment) || segment is "." or "..")
                throw new ArgumentException($"'{segment}' is not a valid artifact name segment.", nameof(segments));
        return new ArtifactName(string.Join('/', segments));
    }

    /// <summary>A name as <see cref="Value"/> wrote it, checked like <see cref="Of"/>.</summary>
    public static ArtifactName Parse(string value) => Of(value.Split('/'));

    public override string ToString() => Value;

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex Segment();
}

/// <summary>Where artifacts live: whole objects written at once (a rewrite replaces), read as streams.</summary>
public interface IArtifactStore
{
    /// <summary>Writes the whole artifact, replacing any earlier one; readers never see a partial artifact.</summary>
    Task WriteAsync(ArtifactName name, Stream content, CancellationToken cancel = default);

    /// <summary>The artifact's content, or null when there is none.</summary>
    Task<Stream?> OpenReadAsync(ArtifactName name, CancellationToken cancel = default);

    /// <summary>Removes the artifact; removing one that does not exist is not an error.</summary>
    Task DeleteAsync(ArtifactName name, CancellationToken cancel = default);

    /// <summary>Names under a prefix of whole segments, in ordinal order.</summary>
    Task<IReadOnlyList<ArtifactName>> ListAsync(ArtifactName prefix, CancellationToken cancel = default);

    /// <summary>Bytes stored under a prefix of whole segments (a tenant's storage, for its quota).</summary>
    Task<long> SizeAsync(ArtifactName prefix, CancellationToken cancel = default);
}

/// <summary>Whole artifacts as bytes, for the small ones (latents, inputs) that are read or written at once.</summary>
public static class ArtifactStoreBytes
{
    public static async Task<byte[]?> ReadAllBytesAsync(this IArtifactStore store, ArtifactName name, CancellationToken cancel = default)
    {
        await using var stream = await store.OpenReadAsync(name, cancel);
        if (stream is null) return null;
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, cancel);
        return copy.ToArray();
    }

    public static async Task WriteAllBytesAsync(this IArtifactStore store, ArtifactName name, byte[] bytes, CancellationToken cancel = default)
    {
        using var stream = new MemoryStream(bytes);
        await store.WriteAsync(name, stream, cancel);
    }
}
