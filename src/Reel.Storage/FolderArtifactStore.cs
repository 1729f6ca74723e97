namespace Reel.Storage;

/// <summary>Artifacts as files under a root folder (the embedded default). Writes go to a temporary file first.</summary>
public sealed class FolderArtifactStore(string root) : IArtifactStore
{
    private string PathOf(ArtifactName name) => Path.Combine(root, name.Value.Replace('/', Path.DirectorySeparatorChar));

    public async Task WriteAsync(ArtifactName name, Stream content, CancellationToken cancel = default)
    {
        var path = PathOf(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.partial";
        try
        {
            await using (var file = File.Create(temp)) await content.CopyToAsync(file, cancel);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public Task<Stream?> OpenReadAsync(ArtifactName name, CancellationToken cancel = default)
    {
        try
        {
            return Task.FromResult<Stream?>(File.OpenRead(PathOf(name)));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public Task DeleteAsync(ArtifactName name, CancellationToken cancel = default)
    {
        var path = PathOf(name);
        if (File.Exists(path)) File.Delete(path);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ArtifactName>> ListAsync(ArtifactName prefix, CancellationToken cancel = default)
    {
        var folder = PathOf(prefix);
        IReadOnlyList<ArtifactName> names = !Directory.Exists(folder) ? [] : Directory
            .EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".partial", StringComparison.Ordinal))
            .Select(f => ArtifactName.Of(Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar)))
            .OrderBy(n => n.Value, StringComparer.Ordinal).ToList();
        return Task.FromResult(names);
    }

    public Task<long> SizeAsync(ArtifactName prefix, CancellationToken cancel = default)
    {
        var folder = PathOf(prefix);
        return Task.FromResult(!Directory.Exists(folder) ? 0L
            : new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length));
    }
}
