using System.Runtime.InteropServices;

namespace Reel.Model;

/// <summary>
/// glibc keeps freed tensor-sized blocks in per-thread heaps (arenas) instead of returning them to the system, so
/// resident memory creeps up with every chunk a long video streams through, though the live tensors do not grow.
/// Trimming the heaps between chunks returns that memory, so peak memory depends on the chunk, not the video's length.
/// </summary>
public static class NativeMemoryPolicy
{
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

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
