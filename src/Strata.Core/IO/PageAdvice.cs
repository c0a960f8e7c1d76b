using System.Runtime.InteropServices;

namespace Strata.IO;

/// <summary>
/// Tells the kernel that pages of a read-only file mapping are not needed now (madvise MADV_DONTNEED), so they leave
/// the process's resident set; touching them again reads them back from the file. Only for file-backed mappings:
/// on anonymous memory the same call would zero the pages. No-op off Linux.
/// </summary>
internal static unsafe partial class PageAdvice
{
    private const int MadvDontNeed = 4, MadvHugePage = 14;

    /// <summary>Huge page size on x64 and arm64 Linux (with 4 KiB base pages).</summary>
    public const long HugePageBytes = 2 << 20;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint addr, nuint length, int advice);

    /// <summary>Drops the whole pages inside [start, start + length) from the resident set; returns whether it did.</summary>
    public static bool DontNeedFileBacked(nint start, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return false;
        long page = Environment.SystemPageSize;
        long first = ((long)start + page - 1) / page * page;
        long end = ((long)start + length) / page * page;
        if (end <= first) return false;
        try
        {
            return Madvise((nint)first, (nuint)(end - first), MadvDontNeed) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// Asks for transparent huge pages over the whole 2 MiB pages inside [start, start + length) of anonymous memory
    /// not yet touched (madvise MADV_HUGEPAGE; most distributions enable THP only for regions that ask). Decode streams
    /// every weight once per token: with 4 KiB pages the hardware prefetchers stop at every page boundary and each
    /// page costs a TLB miss. Returns whether the advice was taken; without THP it is harmless.
    /// </summary>
    public static bool HugePages(nint start, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return false;
        long first = ((long)start + HugePageBytes - 1) / HugePageBytes * HugePageBytes;
        long end = ((long)start + length) / HugePageBytes * HugePageBytes;
        if (end <= first) return false;
        try
        {
            return Madvise((nint)first, (nuint)(end - first), MadvHugePage) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
