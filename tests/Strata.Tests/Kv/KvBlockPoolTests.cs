using Strata.Kv;

namespace Strata.Tests.Kv;

public class KvBlockPoolTests
{
    private static KvBlockPool Pool(int blocks) => new(new DramKvBlockStore(new KvLayout(Layers: 2, KvDim: 8, BlockTokens: 4), blocks));

    [Fact]
    public void BlocksAreReferenceCountedAndFreedWithTheLastHolder()
    {
        var pool = Pool(3);
        Assert.True(pool.TryAllocate(out int a));
        Assert.True(pool.TryAllocate(out int b));
        Assert.NotEqual(a, b);
        pool.Retain(a);                       // a second sequence shares block a
        pool.Release(a);
        Assert.Equal(1, pool.RefCount(a));
        Assert.Equal(1, pool.FreeBlocks);
        pool.Release(a);
        Assert.Equal(2, pool.FreeBlocks);
        Assert.Throws<InvalidOperationException>(() => pool.Release(a));
        Assert.Throws<InvalidOperationException>(() => pool.Retain(a));
        pool.Release(b);
        Assert.Equal(3, pool.FreeBlocks);
    }

    [Fact]
    public void SequencesTakeBlocksAsTheyGrowAndGiveThemBackOnTruncate()
    {
        var pool = Pool(4);
        using var seq = new KvSequence(pool, maxPositions: 16);
        seq.Reserve(5);                       // 5 positions of 4 per block: 2 blocks
        Assert.Equal(2, seq.BlockTable.Length);
        Assert.Equal(2, pool.FreeBlocks);
        seq.Append([1, 2, 3, 4, 5]);
        seq.Row(1, 0, 4)[7] = (Half)0;
        seq.Row(1, 1, 4)[7] = (Half)3;        // last position, V row of layer 1
        Assert.Equal((Half)3, seq.Row(1, 1, 4)[7]);
        Assert.Equal((Half)0, seq.Row(1, 0, 4)[7]); // its K row is a different place
        Assert.Equal([1, 2, 3, 4, 5], seq.Tokens.ToArray());
        seq.Truncate(4);                      // positions 0..3 fit one block
        Assert.Single(seq.BlockTable.ToArray());
        Assert.Equal(3, pool.FreeBlocks);
        var e = Assert.Throws<StrataException>(() => seq.Reserve(17));
        Assert.Contains("16", e.Message);
    }

    [Fact]
    public void AnEmptyPoolIsAClearError()
    {
        var pool = Pool(1);
        using var a = new KvSequence(pool, 16);
        a.Reserve(4);
        using var b = new KvSequence(pool, 16);
        var e = Assert.Throws<StrataException>(() => b.Reserve(1));
        Assert.Contains("out of blocks", e.Message);
    }
}
