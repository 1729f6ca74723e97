using System.Runtime.InteropServices;

namespace Reel.Model;

/// <summary>
/// glibc keeps freed tensor-sized blocks in per-thread heaps (arenas) instead of returning them to the system, so
/// resident memory creeps up with every chunk a long video streams through, though the live tensors do not grow.
/// Trimming the heaps between chunks returns that memory, so peak memory depends on the chunk, not the video's length.
/// Within a chunk the opposite holds: every step allocates and frees the same large activations, and glibc's defaults
/// give each one fresh pages from the system (mmap above a threshold, heap tops returned past 128 KB), so a step pays
/// for zeroing them again — measured here: a DiT pass of 16 rows of `tiny` took 1.68 s in bfloat16 (0.36 s with the
/// thresholds below) and 1.40 s in float32 (0.79 s). <see cref="KeepStepMemory"/> keeps them in the heap between steps.
/// </summary>
public static class NativeMemoryPolicy
{
    private const int TrimThreshold = -1, MmapThreshold = -3;

    /// <summary>
    /// Blocks up to 32 MB (glibc's largest mmap threshold) come from the heap and up to 256 MB of a heap's free top is
    /// kept, so the activations of one step are reused by the next; <see cref="ReleaseFreedMemory"/> still returns
    /// everything free between chunks. Once per process; a no-op where the C library is not glibc.
    /// </summary>
    public static void KeepStepMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            MallOpt(MmapThreshold, 32 << 20);
            MallOpt(TrimThreshold, 256 << 20);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc: its allocator has its own policy.
        }
    }

    /// <summary>Returns freed heap memory of every arena to the system; a no-op where the C library is not glibc.</summary>
    public static void ReleaseFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (e.g. musl): nothing to trim.
        }
    }

    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
