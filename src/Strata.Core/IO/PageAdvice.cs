using System.Runtime.InteropServices;

namespace Strata.IO;

/// <summary>
/// madvise over the whole pages of a range: file-mapping pages not needed now (MADV_DONTNEED) and huge pages asked for
/// anonymous memory (MADV_HUGEPAGE). No-op off Linux.
/// </summary>
internal static unsafe partial class PageAdvice
{
    private const int MadvDontNeed = 4, MadvHugePage = 14;

    /// <summary>Huge page size on x64 and arm64 Linux (with 4 KiB base pages).</summary>
    public const long HugePageBytes = 2 << 20;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint addr, nuint length, int advice);

    /// <summary>
    /// Drops the whole pages inside [start, start + length) of a read-only file mapping from the resident set (touching
    /// them again reads them back from the file); returns whether it did. Only for file-backed mappings: on anonymous
    /// memory the same call would zero the pages.
    /// </summary>
    public static bool DontNeedFileBacked(nint start, long length) => Advise(start, length, Environment.SystemPageSize, MadvDontNeed);

    /// <summary>
    /// Asks for transparent huge pages over the whole 2 MiB pages inside [start, start + length) of anonymous memory
    /// not yet touched (most distributions enable THP only for regions that ask). Decode streams every weight once per
    /// token: with 4 KiB pages the hardware prefetchers stop at every page boundary and each page costs a TLB miss.
    /// Returns whether the advice was taken; without THP it is harmless.
    /// </summary>
    public static bool HugePages(nint start, long length) => Advise(start, length, HugePageBytes, MadvHugePage);

    /// <summary>
    /// Anonymous memory for a large buffer streamed by the kernels (repacked weights, the bandwidth measure): from one
    /// huge page up it starts on a huge-page boundary and asks for huge pages, so all but its tail can have them. Free
    /// with <see cref="NativeMemory.AlignedFree"/>.
    /// </summary>
    public static byte* AllocateForStreaming(long bytes)
    {
        bool huge = bytes >= HugePageBytes;
        var p = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, huge ? (nuint)HugePageBytes : 64);
        if (huge) HugePages((nint)p, bytes);
        return p;
    }

    /// <summary>The advice over the pages of <paramref name="page"/> bytes wholly inside the range.</summary>
    private static bool Advise(nint start, long length, long page, int advice)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return false;
        long first = ((long)start + page - 1) / page * page;
        long end = ((long)start + length) / page * page;
        if (end <= first) return false;
        try
        {
            return Madvise((nint)first, (nuint)(end - first), advice) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
