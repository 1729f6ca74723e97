using System.Buffers.Binary;
using Orleans.Serialization;
using Orleans.Storage;

namespace Reel.Hosting;

/// <summary>
/// Grain state as files on local disk, ETag-checked like the Redis provider: what <c>reel serve</c> keeps so that
/// stopping or killing it never loses a job. One file per grain and state name; the ETag is a version counter stored
/// in the file's first 8 bytes; a write replaces the file through a rename, so a crash leaves the old or the new state.
/// One process owns the folder.
/// </summary>
public sealed class FileGrainStorage(string root, Serializer serializer) : IGrainStorage
{
    private readonly Lock _lock = new();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        lock (_lock)
        {
            var (version, payload) = Read(PathOf(stateName, grainId));
            if (version is null)
            {
                (grainState.ETag, grainState.RecordExists) = (null, false);
                return Task.CompletedTask;
            }
            grainState.State = serializer.Deserialize<T>(payload!);
            (grainState.ETag, grainState.RecordExists) = (version.Value.ToString(), true);
        }
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        lock (_lock)
        {
            var path = PathOf(stateName, grainId);
            var version = Check(stateName, grainId, path, grainState.ETag);
            var payload = serializer.SerializeToArray(grainState.State);
            var bytes = new byte[8 + payload.Length];
            BinaryPrimitives.WriteInt64LittleEndian(bytes, version + 1);
            payload.CopyTo(bytes, 8);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temporary = path + ".tmp";
            File.WriteAllBytes(temporary, bytes);
            File.Move(temporary, path, overwrite: true);
            (grainState.ETag, grainState.RecordExists) = ((version + 1).ToString(), true);
        }
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        lock (_lock)
        {
            var path = PathOf(stateName, grainId);
            Check(stateName, grainId, path, grainState.ETag);
            File.Delete(path);
            (grainState.ETag, grainState.RecordExists) = (null, false);
        }
        return Task.CompletedTask;
    }

    /// <summary>The stored version, refusing a writer whose ETag is not the stored one (it read an older state).</summary>
    private static long Check(string stateName, GrainId grainId, string path, string? etag)
    {
        var (version, _) = Read(path);
        if (version?.ToString() != etag)
            throw new InconsistentStateException($"State '{stateName}' of {grainId} changed since it was read.", version?.ToString() ?? "", etag ?? "");
        return version ?? 0;
    }

    private static (long? Version, byte[]? Payload) Read(string path)
    {
        if (!File.Exists(path)) return (null, null);
        var bytes = File.ReadAllBytes(path);
        return (BinaryPrimitives.ReadInt64LittleEndian(bytes), bytes[8..]);
    }

    private string PathOf(string stateName, GrainId grainId) =>
        Path.Combine(root, Uri.EscapeDataString(stateName), Uri.EscapeDataString(grainId.ToString()) + ".state");
}
