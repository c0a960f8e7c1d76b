using System.Runtime.InteropServices;

namespace Strata.Kv.Tiers;

/// <summary>
/// Page-granular native memory, optionally bound to one NUMA node. mbind and get_mempolicy are called as raw
/// syscalls through libc's syscall(): glibc has no wrappers for them and libnuma may not be installed.
/// </summary>
public static unsafe partial class NumaMemory
{
    private const int ProtRead = 0x1, ProtWrite = 0x2;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;   // same values on Linux x64 and arm64
    private const int MpolBind = 2;
    private const int MpolFNode = 1, MpolFAddr = 2;
    private const int MaskBits = 1024;                           // nodemask size; the kernel's MAX_NUMNODES is at most this

    public static bool IsSupported { get; } = OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    // x64 has its own syscall table; arm64 uses the asm-generic one.
    private static bool Arm64 => RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    private static nint SysMbind => Arm64 ? 235 : 237;
    private static nint SysGetMempolicy => Arm64 ? 236 : 239;

    /// <summary>Reserves <paramref name="bytes"/> (rounded up to pages) with no binding; pages are committed on first touch.</summary>
    public static void* AllocatePlain(nuint bytes)
    {
        RequireSupported();
        if (bytes == 0) throw new ArgumentOutOfRangeException(nameof(bytes), "cannot map 0 bytes");
        void* p = mmap(null, bytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (p == (void*)-1) throw Failure($"cannot map {bytes} bytes");
        return p;
    }

    /// <summary>
    /// Reserves memory whose pages, when first touched, come only from <paramref name="node"/> (MPOL_BIND), so
    /// the far tier lands on the CXL node instead of wherever the touching thread runs.
    /// </summary>
    public static void* AllocateOnNode(nuint bytes, int node)
    {
        RequireSupported();
        if ((uint)node >= MaskBits) throw new StrataException($"NUMA node {node} is out of range [0, {MaskBits})");
        void* p = AllocatePlain(bytes);
        ulong* mask = stackalloc ulong[MaskBits / 64];
        new Span<ulong>(mask, MaskBits / 64).Clear();
        mask[node / 64] = 1UL << (node % 64);
        // The kernel reads maxnode - 1 bits (a historical off-by-one that libnuma also works around).
        if (syscall(SysMbind, (nint)p, (nint)bytes, MpolBind, (nint)mask, MaskBits + 1, 0) != 0)
        {
            var failure = Failure($"cannot bind {bytes} bytes to NUMA node {node} (is the node online and allowed to this process?)");
            munmap(p, bytes);
            throw failure;
        }
        return p;
    }

    /// <summary>Unmaps memory from <see cref="AllocatePlain"/> or <see cref="AllocateOnNode"/>; bytes must be the allocated size.</summary>
    public static void Free(void* p, nuint bytes)
    {
        RequireSupported();
        if (p == null) return;
        if (munmap(p, bytes) != 0) throw Failure($"cannot unmap {bytes} bytes at 0x{(nuint)p:x}");
    }

    /// <summary>The node holding the page at <paramref name="p"/>. Touch the page first: an untouched page has no node yet.</summary>
    public static int NodeOfAddress(void* p)
    {
        RequireSupported();
        int node = -1;
        if (syscall(SysGetMempolicy, (nint)(&node), 0, 0, (nint)p, MpolFNode | MpolFAddr, 0) != 0)
            throw Failure($"cannot read the NUMA node of address 0x{(nuint)p:x}");
        return node;
    }

    private static void RequireSupported()
    {
        if (!IsSupported) throw new StrataException($"NUMA memory needs Linux on x64 or arm64 (this is {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture})");
    }

    // Read errno before anything else can overwrite it.
    private static StrataException Failure(string what)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new StrataException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(void* addr, nuint length);

    // syscall() is variadic; passing every argument as a full register-sized integer matches the variadic
    // convention on both Linux x64 and arm64 (Apple arm64 differs, but this is Linux only).
    [LibraryImport("libc", SetLastError = true)]
    private static partial nint syscall(nint number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);
}
