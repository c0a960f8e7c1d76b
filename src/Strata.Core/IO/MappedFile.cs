using System.IO.MemoryMappedFiles;

namespace Strata.IO;

/// <summary>
/// A whole file mapped read-only into memory. Every way opening can fail (missing, a directory, unreadable, too
/// short) becomes one <see cref="StrataException"/> that names the file; the pointer stays valid until disposal.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;

    public string Path { get; }
    public long Length { get; }
    /// <summary>The first byte; null once disposed.</summary>
    public byte* Pointer { get; private set; }

    private MappedFile(string path, long length, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* pointer)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        Pointer = pointer;
    }

    /// <param name="kind">What the file should be, for messages ("a GGUF file").</param>
    /// <param name="minBytes">Shorter files fail with <paramref name="tooShort"/>(length).</param>
    public static MappedFile Open(string path, string kind, long minBytes, Func<long, StrataException> tooShort)
    {
        long size;
        try
        {
            if (Directory.Exists(path)) throw new StrataException($"{path}: is a directory, expected {kind}");
            var fi = new FileInfo(path);
            if (!fi.Exists) throw new StrataException($"{path}: no such file");
            size = fi.Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new StrataException($"{path}: cannot open: {e.Message}");
        }
        if (size < minBytes) throw tooShort(size);

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* ptr = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            return new MappedFile(path, size, map, view, ptr + view.PointerOffset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            if (ptr != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            throw new StrataException($"{path}: cannot read: {e.Message}");
        }
    }

    public void Dispose()
    {
        if (Pointer == null) return;
        Pointer = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
