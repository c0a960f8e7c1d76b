using System.Runtime.InteropServices;

namespace Strata.IO;

/// <summary>
/// Tells the kernel that pages of a read-only file mapping are not needed now (madvise MADV_DONTNEED), so they leave
/// the process's resident set; touching them again reads them back from the file. Only for file-backed mappings:
/// on anonymous memory the same call would zero the pages. No-op off Linux.
/// </summary>
internal static unsafe partial class PageAdvice
{
    private const int MadvDontNeed = 4;

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
}
