using System.Runtime.Intrinsics;
using Strata.Tensors;
using Strata.Weights;

namespace Strata.Tests.Tensors;

/// <summary>
/// The re-encoded F16 layout: every half in its window (|v| &lt; 2, subnormals and zero included) reads back as its
/// exact float on every path, values outside it are refused, and the kernel over re-encoded weights gives what the
/// F16 kernel gives over the originals, bit for bit.
/// </summary>
public class RebasedHalfTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(RebasedHalf.MaxShift)]
    public unsafe void EveryHalfInTheWindowReadsBackExactlyAndTheRestIsRefused(int shift)
    {
        var inWindow = new List<ushort>();
        var encoded = new List<ushort>();
        float limit = MathF.ScaleB(2, shift);
        for (int i = 0; i < 65536; i++)
        {
            ushort h = (ushort)i;
            float exact = HalfBits.ToSingle(h);
            bool ok = RebasedHalf.TryEncode(h, shift, out var r);
            Assert.True(ok == (float.IsFinite(exact) && Math.Abs(exact) < limit), $"shift {shift}, half 0x{h:x4} ({exact}): encoded {ok}");
            if (!ok) continue;
            float back = MathF.ScaleB(RebasedHalf.Decode(r), shift);
            Assert.True(back == exact, $"shift {shift}, half 0x{h:x4}: {exact:R} reads back as {back:R}");
            if (exact != 0) Assert.Equal(BitConverter.SingleToUInt32Bits(exact), BitConverter.SingleToUInt32Bits(back));
            inWindow.Add(h);
            encoded.Add(r);
        }
        Assert.Equal(2 * (16 + shift) * 1024, inWindow.Count); // exponents 0..15+shift of either sign

        // the vector encoder (16 at a time, a scalar tail) writes what the scalar one does
        var src = inWindow.ToArray();
        var dst = new ushort[src.Length];
        fixed (ushort* s = src)
        fixed (ushort* d = dst)
        {
            Assert.Equal(shift, RebasedHalf.ShiftFor((short*)s, src.Length));
            Assert.True(RebasedHalf.TryEncode((short*)s, (short*)d, src.Length - 3, shift));
        }
        Assert.Equal(encoded.Take(src.Length - 3), dst.Take(src.Length - 3));

        // the vector readings (512-bit where the machine has it, 256, 128) give the decoded float
        for (int at = 0; at + 16 <= dst.Length; at += 16)
        {
            var bits = Vector512.Create(dst.AsSpan(at, 16).ToArray().Select(r => (int)(short)r << 13).ToArray());
            var v256 = RebasedHalf.FromShifted(bits.GetLower());
            var v128 = RebasedHalf.FromShifted(bits.GetLower().GetLower());
            Vector512<float>? v512 = RebasedHalf.IsSupported ? RebasedHalf.FromShifted(bits) : null;
            for (int j = 0; j < 16; j++)
            {
                float want = RebasedHalf.Decode(dst[at + j]);
                if (v512 is { } v) Assert.True(want == v[j] && float.IsNegative(want) == float.IsNegative(v[j]), $"512-bit 0x{dst[at + j]:x4}: {v[j]:R} vs {want:R}");
                if (j < 8) Assert.True(want == v256[j] && float.IsNegative(want) == float.IsNegative(v256[j]), $"256-bit 0x{dst[at + j]:x4}: {v256[j]:R}");
                if (j < 4) Assert.True(want == v128[j] && float.IsNegative(want) == float.IsNegative(v128[j]), $"128-bit 0x{dst[at + j]:x4}: {v128[j]:R}");
            }
        }
    }

    [Fact]
    public unsafe void TheShiftIsTheLeastThatFitsTheLargestValue()
    {
        var h = new ushort[100];
        for (int i = 0; i < h.Length; i++) h[i] = HalfBits.FromSingle((i % 9 - 4) * 0.2f);
        int Shift() { fixed (ushort* p = h) return RebasedHalf.ShiftFor((short*)p, h.Length); }
        Assert.Equal(0, Shift());
        h[97] = HalfBits.FromSingle(-2f);
        Assert.Equal(1, Shift());
        h[3] = HalfBits.FromSingle(127.9f);
        Assert.Equal(6, Shift());
        h[50] = HalfBits.FromSingle(128f);
        Assert.Equal(-1, Shift());
        h[50] = 0x7c00; // infinity
        Assert.Equal(-1, Shift());
        h[50] = 0; h[3] = 0x7e00; // NaN
        Assert.Equal(-1, Shift());
    }

    [Theory]
    [InlineData(0x4000)]  // 2.0
    [InlineData(0xc100)]  // -2.5
    [InlineData(0x7c00)]  // +inf
    [InlineData(0xfe00)]  // NaN
    public unsafe void AValueOutsideTheWindowIsRefusedWhereverItIs(int bad)
    {
        foreach (int n in new[] { 5, 16, 40, 1000 })
            foreach (int pos in new[] { 0, n / 2, n - 1 })
            {
                var src = new ushort[n];
                for (int i = 0; i < n; i++) src[i] = HalfBits.FromSingle((i % 7 - 3) * 0.1f);
                src[pos] = (ushort)bad;
                var dst = new ushort[n];
                fixed (ushort* s = src)
                fixed (ushort* d = dst)
                    Assert.False(RebasedHalf.TryEncode((short*)s, (short*)d, n), $"0x{bad:x4} at {pos} of {n}");
            }
    }

    public static TheoryData<int> Paths => new() { (int)F16Kernel.Path.Best, (int)F16Kernel.Path.Avx2, (int)F16Kernel.Path.Portable };

    public static TheoryData<int, float> PathsAndScales
    {
        get
        {
            var d = new TheoryData<int, float>();
            foreach (var p in new[] { F16Kernel.Path.Best, F16Kernel.Path.Avx2, F16Kernel.Path.Portable })
                foreach (var largest in new[] { 1.99f, 37.5f }) d.Add((int)p, largest);
            return d;
        }
    }

    /// <summary>
    /// Batches of every tile size, the widened-once batches, row tails and row ranges, matrices stored unshifted and
    /// shifted: the same floats as the F16 kernel.
    /// </summary>
    [Theory, MemberData(nameof(PathsAndScales))]
    public unsafe void TheKernelOverReencodedWeightsEqualsTheF16KernelBitForBit(int path, float largest)
    {
        var f16 = Kernels.For(GgmlType.F16, WeightLayout.PlainFinite);
        F16Kernel.ForcePath = (F16Kernel.Path)path;
        try
        {
            foreach (var (rows, cols, n) in new[] { (13, 100, 7), (9, 2048, 1), (8, 2048, 14), (4, 16, 6), (3, 17, 13), (6, 4100, 5), (5, 64, 37) })
            {
                var x = TestData.Gaussian(rows * cols, rows * cols, scale: largest / 6);
                var w = new ushort[rows * cols];
                for (int i = 0; i < w.Length; i++)
                {
                    w[i] = HalfBits.FromSingle(Math.Clamp(x[i], -largest, largest));
                    if (i % 7 == 0) w[i] = (ushort)((i * 37 % 1023 + 1) | (i % 2 == 0 ? 0x8000 : 0)); // subnormals
                    if (i % 11 == 0) w[i] = i % 3 == 0 ? (ushort)0x8000 : (ushort)0;                  // zeros of both signs
                    if (i % 13 == 0) w[i] = HalfBits.FromSingle(i % 2 == 0 ? largest : -largest);     // the largest
                }
                var r = new ushort[w.Length];
                int shift;
                fixed (ushort* ws = w)
                fixed (ushort* rs = r)
                {
                    shift = RebasedHalf.ShiftFor((short*)ws, w.Length);
                    Assert.Equal(largest < 2 ? 0 : 5, shift);
                    Assert.True(RebasedHalf.TryEncode((short*)ws, (short*)rs, w.Length, shift));
                }
                var rebased = Kernels.For(GgmlType.F16, WeightLayout.RebasedF16, shift);
                Assert.Same(f16.PrepareKey, rebased.PrepareKey); // a row prepared for one serves the other
                var wb = new byte[2 * w.Length];
                var rb = new byte[2 * w.Length];
                Buffer.BlockCopy(w, 0, wb, 0, wb.Length);
                Buffer.BlockCopy(r, 0, rb, 0, rb.Length);

                int pb = f16.PreparedBytes(cols);
                var xs = TestData.Gaussian(n * cols, n);
                var p = new byte[pb * n];
                for (int t = 0; t < n; t++) f16.Prepare(xs.AsSpan(t * cols, cols), p.AsSpan(t * pb, pb));
                var want = new float[n * rows];
                var got = new float[n * rows];
                f16.DotRowsBatch(wb, cols, p, n, want, rows, 0, rows);
                rebased.DotRowsBatch(rb, cols, p, n, got, rows, 0, rows);
                Assert.True(want.SequenceEqual(got), $"path {path} shift {shift} rows {rows} cols {cols} n {n}: batches differ");
                for (int t = 0; t < n; t++)
                {
                    var one = new float[rows];
                    rebased.DotRows(rb, cols, p.AsSpan(t * pb, pb), one, 0, rows);
                    Assert.Equal(want.AsSpan(t * rows, rows).ToArray(), one);
                }
                var part = new float[rows - 1];
                rebased.DotRows(rb, cols, p.AsSpan(0, pb), part, 1, rows);
                Assert.Equal(want.AsSpan(1, rows - 1).ToArray(), part);
            }
        }
        finally { F16Kernel.ForcePath = F16Kernel.Path.Best; }
    }

    [Fact]
    public unsafe void ThePackerReencodesWhatFitsAndKeepsTheRestAsF16()
    {
        const int rows = 16, cols = 256;
        var w = new ushort[rows * cols];
        var x = TestData.Gaussian(w.Length, 5, scale: 0.05f);
        for (int i = 0; i < w.Length; i++) w[i] = HalfBits.FromSingle(x[i]);
        w[3] = 0; w[10] = 0x0001; w[20] = 0x83ff;
        var bytes = new byte[2 * w.Length];
        Buffer.BlockCopy(w, 0, bytes, 0, bytes.Length);
        fixed (byte* pb = bytes)
        {
            var tensor = new WeightTensor("m", GgmlType.F16, [cols, rows], (nint)pb, bytes.Length);
            using var packer = new WeightPacker();
            var packed = packer.Pack(tensor);
            if (!RebasedHalf.IsSupported)
            {
                Assert.Equal(WeightLayout.PlainFinite, packed.Layout);
                return;
            }
            Assert.Equal(WeightLayout.RebasedF16, packed.Layout);
            Assert.NotEqual(tensor.Data, packed.Data);       // a copy; the source is untouched
            Assert.Equal(bytes.Length, packer.PackedBytes);
            Assert.Throws<InvalidOperationException>(() => packed.Row(0));

            Assert.Equal(0, packed.RebaseShift);
            var k = packed.Kernel;
            var plain = Kernels.For(GgmlType.F16);
            var prep = new byte[plain.PreparedBytes(cols)];
            plain.Prepare(TestData.Gaussian(cols, 9), prep);
            var a = new float[rows];
            var b = new float[rows];
            plain.DotRows(bytes, cols, prep, a, 0, rows);
            k.DotRows(new ReadOnlySpan<byte>((void*)packed.Data, bytes.Length), cols, prep, b, 0, rows);
            Assert.Equal(a, b);

            BitConverter.TryWriteBytes(bytes.AsSpan(2 * 4000), HalfBits.FromSingle(-2.5f)); // stored halved: shift 1
            var shifted = packer.Pack(tensor);
            Assert.Equal((WeightLayout.RebasedF16, 1), (shifted.Layout, shifted.RebaseShift));
            plain.DotRows(bytes, cols, prep, a, 0, rows);
            shifted.Kernel.DotRows(new ReadOnlySpan<byte>((void*)shifted.Data, bytes.Length), cols, prep, b, 0, rows);
            Assert.Equal(a, b);

            BitConverter.TryWriteBytes(bytes.AsSpan(2 * 4000), HalfBits.FromSingle(300f)); // too large to shift: stays F16, finite
            Assert.Equal(WeightLayout.PlainFinite, packer.Pack(tensor).Layout);
            BitConverter.TryWriteBytes(bytes.AsSpan(2 * 4000), (ushort)0x7e00); // NaN: stays F16 and checked
            Assert.Equal(WeightLayout.Plain, packer.Pack(tensor).Layout);
            Assert.Equal(2 * bytes.Length, packer.PackedBytes); // the two copies made; the refused ones never were
        }
    }
}
