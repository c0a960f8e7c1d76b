using System.Diagnostics;

namespace Strata.IO;

/// <summary>
/// The process's peak resident memory (VmHWM on Linux) and, on Linux, its reset to the present resident size, so a
/// measurement can leave a short-lived buffer of its own out of the peak it reports.
/// </summary>
internal static class PeakResident
{
    public static long Bytes()
    {
        using var self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }

    /// <summary>
    /// Writes 5 to /proc/self/clear_refs (Linux 4.0 on: "reset the peak resident set size to the current resident
    /// set size"); returns whether it did. Elsewhere, or where /proc is read-only, the peak stays as it is.
    /// </summary>
    public static bool Reset()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
