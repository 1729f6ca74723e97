using System.Text;
using Reel.Storage;

namespace Reel.Tests;

/// <summary>The contract every artifact store keeps; each store runs the same tests.</summary>
public abstract class ArtifactStoreContract
{
    protected abstract Task<IArtifactStore> StoreAsync();

    private static MemoryStream Bytes(string text) => new(Encoding.UTF8.GetBytes(text));

    private static async Task<string?> Read(IArtifactStore store, ArtifactName name)
    {
        await using var stream = await store.OpenReadAsync(name);
        if (stream is null) return null;
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task What_is_written_is_read_back_and_a_rewrite_replaces_it()
    {
        var store = await StoreAsync();
        var name = ArtifactName.Of("tenants", "acme", "sessions", Guid.NewGuid().ToString("N"), "chunks", "0000.latents");
        await store.WriteAsync(name, Bytes("first"));
        Assert.Equal("first", await Read(store, name));
        await store.WriteAsync(name, Bytes("second, longer"));
        Assert.Equal("second, longer", await Read(store, name));
    }

    [Fact]
    public async Task Missing_artifacts_read_as_null_and_delete_is_idempotent()
    {
        var store = await StoreAsync();
        var name = ArtifactName.Of("tenants", "acme", "nothing-" + Guid.NewGuid().ToString("N"));
        Assert.Null(await Read(store, name));
        await store.DeleteAsync(name);
        await store.WriteAsync(name, Bytes("x"));
        await store.DeleteAsync(name);
        await store.DeleteAsync(name);
        Assert.Null(await Read(store, name));
    }

    [Fact]
    public async Task Listing_returns_only_names_under_the_prefix_in_order()
    {
        var store = await StoreAsync();
        var session = Guid.NewGuid().ToString("N");
        foreach (var chunk in new[] { "0002", "0000", "0001" })
            await store.WriteAsync(ArtifactName.Of("tenants", "acme", "sessions", session, "chunks", chunk), Bytes(chunk));
        await store.WriteAsync(ArtifactName.Of("tenants", "acme", "sessions", session + "x", "chunks", "0000"), Bytes("other"));
        var names = await store.ListAsync(ArtifactName.Of("tenants", "acme", "sessions", session));
        Assert.Equal(["0000", "0001", "0002"], names.Select(n => n.Value.Split('/')[^1]));
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("white space")]
    public void Names_cannot_escape_their_prefix(string segment) =>
        Assert.Throws<ArgumentException>(() => ArtifactName.Of("tenants", segment, "x"));
}

public sealed class FolderArtifactStoreTests : ArtifactStoreContract
{
    private readonly string _root = TestModels.TempFolder();

    protected override Task<IArtifactStore> StoreAsync() => Task.FromResult<IArtifactStore>(new FolderArtifactStore(_root));

    [Fact]
    public async Task A_failed_write_leaves_nothing_behind()
    {
        var store = new FolderArtifactStore(_root);
        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync(ArtifactName.Of("broken"), new FailingStream()));
        Assert.Empty(Directory.GetFiles(_root, "*", SearchOption.AllDirectories));
    }

    private sealed class FailingStream : MemoryStream
    {
        public override Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken) => throw new IOException("gone");
    }
}

public sealed class BlobArtifactStoreTests(AzuriteFixture azurite) : ArtifactStoreContract, IClassFixture<AzuriteFixture>
{
    protected override Task<IArtifactStore> StoreAsync() => Task.FromResult<IArtifactStore>(BlobArtifactStore.Connect(azurite.ConnectionString, "reel-tests"));
}
