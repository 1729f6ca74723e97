using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace Reel.Model;

/// <summary>
/// Latents as a safetensors file holding one float32 tensor named <c>latents</c> [1, C, T, h, w]: exact (no rounding),
/// readable by any safetensors tool. Chunks and whole videos are stored this way between processes.
/// </summary>
public static class LatentsFile
{
    private const string Name = "latents";

    public static byte[] ToBytes(Tensor latents)
    {
        using var values = latents.detach().to(ScalarType.Float32).cpu().contiguous();
        var data = MemoryMarshal.AsBytes(values.data<float>().ToArray().AsSpan());
        var header = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            [Name] = new { dtype = "F32", shape = values.shape, data_offsets = new long[] { 0, data.Length } },
        });
        // The header is padded with spaces to a multiple of 8 bytes, as the format recommends.
        var padded = (header.Length + 7) / 8 * 8;
        var bytes = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        header.CopyTo(bytes, 8);
        bytes.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        data.CopyTo(bytes.AsSpan(8 + padded));
        return bytes;
    }

    public static Tensor FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8) throw new ModelException("A latents file is shorter than its header.");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)bytes.Length - 8) throw new ModelException("A latents file's header runs past its end.");
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes.Slice(8, (int)headerLength)));
        if (!header.RootElement.TryGetProperty(Name, out var entry) || entry.GetProperty("dtype").GetString() != "F32")
            throw new ModelException($"A latents file holds no float32 tensor named '{Name}'.");
        var shape = entry.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        var offsets = entry.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        var start = 8 + (int)headerLength + (int)offsets[0];
        var length = (int)(offsets[1] - offsets[0]);
        if (length != shape.Aggregate(4L, (n, d) => n * d) || start + length > bytes.Length)
            throw new ModelException("A latents file's data does not match its shape.");
        var values = MemoryMarshal.Cast<byte, float>(bytes.Slice(start, length)).ToArray();
        return tensor(values, shape);
    }
}
