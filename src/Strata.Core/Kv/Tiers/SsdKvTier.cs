using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Strata.IO;

namespace Strata.Kv.Tiers;

/// <summary>
/// The <c>ssd</c> tier: one checksummed file per block under DIR/strata-kv/v1/FINGERPRINT/xx/HASH.kvb (see
/// <see cref="KvBlockFile"/>). A block is written to a temporary file, flushed to the device and renamed into place, so
/// a reader — this process, a later one, or another process on the same directory — sees a whole block or none, and a
/// kill at any moment loses only blocks in flight. The index is the directory listing, read at start-up without
/// opening a file; every read is verified, and a bad file is a counted miss and is deleted. Reads use direct I/O
/// where the filesystem allows it. Two processes may share a directory: writes are atomic renames of identical
/// content, and a block one process deleted is a miss for the other (no lock is taken).
/// </summary>
public sealed unsafe class SsdKvTier : IKvTier
{
    public const string RootName = "strata-kv";
    public const string FormatDir = "v1";
    public const string Extension = ".kvb";
    /// <summary>The block-file format this build writes and reads (<see cref="KvBlockFile"/>).</summary>
    public const int FormatVersion = KvBlockFile.Version;

    private readonly KvLayout _layout;
    private readonly BlockHash _fingerprint;
    private readonly ConcurrentDictionary<BlockHash, byte> _index = new();
    private readonly ConcurrentBag<nint> _buffers = new();   // aligned whole-record buffers
    private readonly ConcurrentBag<nint> _headers = new();   // aligned header pages
    private readonly Action<string> _warn;
    private readonly int _fileBytes;
    private readonly HashSet<BlockHash> _initial;
    private int _directWarned, _writesDisabled, _corruptWarned;
    private long _corrupt, _readBytes, _writtenBytes;
    private bool _direct = true;
    private string? _directWhyNot;

    public SsdKvTier(string directory, BlockHash fingerprint, KvLayout layout, string modelName, Action<string>? warn = null)
    {
        _layout = layout;
        _fingerprint = fingerprint;
        _warn = warn ?? (_ => { });
        _fileBytes = KvBlockFile.FileBytes(layout.BlockBytes);
        Root = directory;
        ModelDirectory = Path.Combine(directory, RootName, FormatDir, fingerprint.ToString());
        try
        {
            Directory.CreateDirectory(ModelDirectory);
            WriteModelInfo(modelName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StrataException($"--kv-dir {directory}: cannot use it as a KV directory: {e.Message}");
        }
        _initial = Scan();
    }

    public string Name => "ssd";
    public bool IsSlow => true;
    public bool Persistent => true;
    public string Root { get; }
    public string ModelDirectory { get; }
    public IReadOnlyCollection<BlockHash> Keys => _initial;
    public long CorruptBlocks => Interlocked.Read(ref _corrupt);
    public long ReadBytes => Interlocked.Read(ref _readBytes);
    public long WrittenBytes => Interlocked.Read(ref _writtenBytes);
    public bool DirectIo => _direct;

    public string Describe() =>
        $"ssd: {ModelDirectory}, {(_direct ? "direct I/O" : "buffered I/O (" + _directWhyNot + ")")}, {_index.Count} blocks on disk";

    public bool Contains(BlockHash key)
    {
        if (_index.ContainsKey(key)) return true;
        // Another process sharing the directory may have written it since the scan.
        if (!File.Exists(PathOf(key))) return false;
        _index.TryAdd(key, 0);
        return true;
    }

    public bool TryRead(BlockHash key, Span<byte> destination)
    {
        string path = PathOf(key);
        // A page-aligned destination of whole pages (the DRAM pool's blocks, usually) takes the payload straight from
        // the device: no bounce buffer, no copy.
        bool straight = destination.Length == _layout.BlockBytes && _layout.BlockBytes % IO.DirectIo.Alignment == 0 && IsPageAligned(destination);
        byte* buffer = straight ? RentHeader() : RentBuffer();
        try
        {
            string? problem;
            int got;
            if (straight)
            {
                var header = new Span<byte>(buffer, KvBlockFile.HeaderBytes);
                (int h, int p) = ReadFile(path, header, destination);
                got = h < 0 ? -1 : h + p;
                problem = got < 0 ? null : KvBlockFile.Check(header[..h], destination[..p], _fingerprint, key, _layout);
            }
            else
            {
                (got, _) = ReadFile(path, new Span<byte>(buffer, _fileBytes), default);
                problem = got < 0 ? null : KvBlockFile.Check(new ReadOnlySpan<byte>(buffer, got), _fingerprint, key, _layout);
            }
            if (got < 0) { _index.TryRemove(key, out _); return false; }
            if (problem is not null)
            {
                Interlocked.Increment(ref _corrupt);
                if (Interlocked.Exchange(ref _corruptWarned, 1) == 0)
                    _warn($"kv ssd tier: {path}: {problem}; such blocks are treated as misses and deleted");
                _index.TryRemove(key, out _);
                TryDelete(path);
                return false;
            }
            if (!straight) new ReadOnlySpan<byte>(buffer + KvBlockFile.HeaderBytes, _layout.BlockBytes).CopyTo(destination);
            Interlocked.Add(ref _readBytes, got);
            return true;
        }
        finally
        {
            (straight ? _headers : _buffers).Add((nint)buffer);
        }
    }

    private static bool IsPageAligned(Span<byte> s)
    {
        fixed (byte* p = s) return (nint)p % IO.DirectIo.Alignment == 0;
    }

    /// <summary>
    /// Reads the file into <paramref name="first"/> and then <paramref name="second"/> (which may be empty); returns
    /// the bytes that landed in each, −1 when the file does not exist.
    /// </summary>
    private (int First, int Second) ReadFile(string path, Span<byte> first, Span<byte> second)
    {
        try
        {
            string? whyNot = null;
            SafeFileHandle? handle = _direct ? IO.DirectIo.TryOpenRead(path, out whyNot) : null;
            if (handle is null && _direct && Interlocked.Exchange(ref _directWarned, 1) == 0)
            {
                _direct = false;
                _directWhyNot = whyNot;
                _warn($"kv ssd tier: {Root}: {whyNot}; reading through the page cache instead");
            }
            handle ??= File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using (handle)
            {
                int a = Fill(handle, first, 0);
                int b = a == first.Length && second.Length > 0 ? Fill(handle, second, a) : 0;
                return (a, b);
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return (-1, 0);
        }
        catch (IOException)
        {
            // A short file under direct I/O can fail the aligned read: read it again through the page cache.
            try
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                int a = Fill(handle, first, 0);
                return (a, a == first.Length && second.Length > 0 ? Fill(handle, second, a) : 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return (0, 0); }
        }
    }

    private static int Fill(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int total = 0, n;
        while (total < buffer.Length && (n = RandomAccess.Read(handle, buffer[total..], offset + total)) > 0) total += n;
        return total;
    }

    public bool TryWrite(BlockHash key, ReadOnlySpan<byte> source)
    {
        if (Volatile.Read(ref _writesDisabled) != 0) return false;
        string path = PathOf(key);
        string temp = $"{path}.tmp.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}";
        byte* buffer = RentBuffer();
        try
        {
            var record = new Span<byte>(buffer, _fileBytes);
            KvBlockFile.WriteHeader(record, _fingerprint, key, _layout, source);
            source.CopyTo(record[KvBlockFile.HeaderBytes..]);
            record[(KvBlockFile.HeaderBytes + source.Length)..].Clear();
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None, preallocationSize: _fileBytes))
            {
                RandomAccess.Write(handle, record, 0);
                RandomAccess.FlushToDisk(handle);
            }
            File.Move(temp, path, overwrite: true);
            _index.TryAdd(key, 0);
            Interlocked.Add(ref _writtenBytes, _fileBytes);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            if (IsDiskFull(e))
            {
                if (Interlocked.Exchange(ref _writesDisabled, 1) == 0)
                    _warn($"kv ssd tier: the disk holding {Root} is full; no more blocks are written to it (generation goes on)");
            }
            else if (Interlocked.Exchange(ref _corruptWarned, 1) == 0)
                _warn($"kv ssd tier: cannot write {path}: {e.Message}");
            return false;
        }
        finally
        {
            _buffers.Add((nint)buffer);
        }
    }

    private static bool IsDiskFull(Exception e) =>
        e.HResult is 28 or 112 or unchecked((int)0x80070070)
        || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase)   // ENOSPC from write
        || e.Message.Contains("disk was full", StringComparison.OrdinalIgnoreCase);  // .NET's preallocation failure

    public bool WritesDisabled => Volatile.Read(ref _writesDisabled) != 0;

    public void Remove(BlockHash key)
    {
        _index.TryRemove(key, out _);
        TryDelete(PathOf(key));
    }

    private string PathOf(BlockHash key)
    {
        string hex = key.ToString();
        return Path.Combine(ModelDirectory, hex[..2], hex + Extension);
    }

    /// <summary>The listing of the model's directory: names only, no file is opened (verification is lazy).</summary>
    private HashSet<BlockHash> Scan()
    {
        var keys = new HashSet<BlockHash>();
        foreach (var sub in Directory.EnumerateDirectories(ModelDirectory))
            foreach (var file in Directory.EnumerateFiles(sub))
            {
                string name = Path.GetFileName(file);
                if (name.EndsWith(Extension, StringComparison.Ordinal) && BlockHash.TryParse(name[..^Extension.Length], out var key))
                {
                    keys.Add(key);
                    _index.TryAdd(key, 0);
                }
                else if (name.Contains(".tmp.", StringComparison.Ordinal) && IsAbandoned(name)) TryDelete(file);
            }
        return keys;
    }

    // A temporary file whose writer is gone (killed mid-write); a live process's own files are left alone.
    private static bool IsAbandoned(string name)
    {
        var parts = name.Split('.');
        int at = Array.IndexOf(parts, "tmp");
        if (at < 0 || at + 1 >= parts.Length || !int.TryParse(parts[at + 1], out int pid)) return true;
        if (pid == Environment.ProcessId) return true;
        return OperatingSystem.IsLinux() && !Directory.Exists($"/proc/{pid}");
    }

    private void WriteModelInfo(string modelName)
    {
        string path = Path.Combine(ModelDirectory, "model.json");
        if (File.Exists(path)) return;
        var info = new KvModelInfo(_fingerprint.ToString(), modelName, KvTypeInfo.Name(_layout.Type), _layout.BlockTokens,
            _layout.Layers, _layout.KvDim, _layout.BlockBytes, KvBlockFile.Version);
        string temp = $"{path}.tmp.{Environment.ProcessId}";
        File.WriteAllText(temp, JsonSerializer.Serialize(info, KvModelInfo.JsonOptions));
        File.Move(temp, path, overwrite: true);
    }

    private byte* RentHeader() =>
        _headers.TryTake(out nint b) ? (byte*)b : (byte*)NativeMemory.AlignedAlloc(KvBlockFile.HeaderBytes, IO.DirectIo.Alignment);

    private byte* RentBuffer() =>
        _buffers.TryTake(out nint b) ? (byte*)b : (byte*)NativeMemory.AlignedAlloc((nuint)_fileBytes, IO.DirectIo.Alignment);

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    public void Dispose()
    {
        while (_buffers.TryTake(out nint b)) NativeMemory.AlignedFree((void*)b);
        while (_headers.TryTake(out nint h)) NativeMemory.AlignedFree((void*)h);
    }
}

/// <summary>What model.json in a fingerprint's directory says, for <c>strata kv stats</c>.</summary>
public sealed record KvModelInfo(string Fingerprint, string Model, string KvType, int BlockTokens, int Layers, int KvDim, int BlockBytes, int FormatVersion)
{
    public static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };
}
