using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Strata.IO;

/// <summary>
/// Opening files for direct I/O (O_DIRECT: no page cache, transfers straight to the caller's aligned buffer), which
/// .NET's FileOptions do not offer. Linux only; elsewhere, and on filesystems that refuse it (tmpfs), the caller falls
/// back to buffered reads.
/// </summary>
internal static partial class DirectIo
{
    public const int Alignment = 4096;

    private const int EINVAL = 22;

    /// <summary>A read-only handle with O_DIRECT, or null with the reason when the OS or filesystem refuses it.</summary>
    public static SafeFileHandle? TryOpenRead(string path, out string? whyNot)
    {
        whyNot = null;
        if (!OperatingSystem.IsLinux())
        {
            whyNot = "direct I/O is implemented for Linux only";
            return null;
        }
        int flags = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000; // O_DIRECT
        int fd = Open(path, flags | 0x80000 /* O_CLOEXEC */, 0);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        int errno = Marshal.GetLastPInvokeError();
        if (errno == 2) throw new FileNotFoundException($"{path} does not exist", path);
        whyNot = errno == EINVAL ? "the filesystem does not support O_DIRECT" : $"open with O_DIRECT failed (errno {errno})";
        return null;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);
}
