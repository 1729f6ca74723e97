using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Reel.Storage;

/// <summary>
/// Artifacts as block blobs in one Azure Blob Storage container (Azurite in development and tests). A blob upload
/// commits all at once, so readers never see a partial artifact.
/// </summary>
public sealed class BlobArtifactStore(BlobContainerClient container) : IArtifactStore
{
    /// <summary>
    /// Whether an exception says the blob service is out (unreachable, timing out, throttling, failing on its side)
    /// rather than that the request or the artifact is wrong: what is worth waiting out or answering "retry shortly".
    /// </summary>
    public static bool IsOutage(Exception e) => e is RequestFailedException { Status: 0 or 408 or 429 or >= 500 } or HttpRequestException;

    /// <summary>
    /// A store on the container named <paramref name="containerName"/>, created when missing. Synchronous on purpose:
    /// it runs where a store is first resolved, possibly inside a grain activation, where blocking on an async call
    /// would deadlock the grain's scheduler.
    /// </summary>
    public static BlobArtifactStore Connect(string connectionString, string containerName = "reel")
    {
        var container = Container(connectionString, containerName, new BlobClientOptions(Version));
        container.CreateIfNotExists();
        return new BlobArtifactStore(container);
    }

    /// <summary>
    /// Creates the container when missing, in one attempt: how a starting process learns at once whether the store
    /// answers and takes its credentials (a store's own calls retry a store that does not answer, for seconds).
    /// </summary>
    public static async Task CreateContainerOnceAsync(string connectionString, string containerName, CancellationToken cancel)
    {
        var options = new BlobClientOptions(Version) { Retry = { MaxRetries = 0 } };
        await Container(connectionString, containerName, options).CreateIfNotExistsAsync(cancellationToken: cancel);
    }

    // The service version Azurite 3.37 accepts; Azure itself accepts it too.
    private const BlobClientOptions.ServiceVersion Version = BlobClientOptions.ServiceVersion.V2026_06_06;

    private static BlobContainerClient Container(string connectionString, string containerName, BlobClientOptions options) =>
        new BlobServiceClient(connectionString, options).GetBlobContainerClient(containerName);

    public async Task WriteAsync(ArtifactName name, Stream content, CancellationToken cancel = default) =>
        await container.GetBlobClient(name.Value).UploadAsync(content, overwrite: true, cancel);

    public async Task<Stream?> OpenReadAsync(ArtifactName name, CancellationToken cancel = default)
    {
        try
        {
            var download = await container.GetBlobClient(name.Value).DownloadStreamingAsync(cancellationToken: cancel);
            return download.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task DeleteAsync(ArtifactName name, CancellationToken cancel = default) =>
        await container.GetBlobClient(name.Value).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: cancel);

    public async Task<IReadOnlyList<ArtifactName>> ListAsync(ArtifactName prefix, CancellationToken cancel = default)
    {
        var names = new List<ArtifactName>();
        await foreach (var blob in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix.Value + "/", cancel))
            names.Add(ArtifactName.Of(blob.Name.Split('/')));
        return names.OrderBy(n => n.Value, StringComparer.Ordinal).ToList();
    }

    public async Task<long> SizeAsync(ArtifactName prefix, CancellationToken cancel = default)
    {
        var bytes = 0L;
        await foreach (var blob in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix.Value + "/", cancel))
            bytes += blob.Properties.ContentLength ?? 0;
        return bytes;
    }
}
