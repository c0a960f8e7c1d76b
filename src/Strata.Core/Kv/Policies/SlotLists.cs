namespace Strata.Kv.Policies;

/// <summary>
/// Keys in index-linked doubly linked lists (several lists over one node array), with a key → slot map: O(1) link,
/// unlink and move, and no allocation once the arrays have grown to the tier's capacity. A node that is in no list
/// (pinned) keeps its slot and its fields.
/// </summary>
internal sealed class SlotLists<TKey> where TKey : notnull, IEquatable<TKey>
{
    public const int None = -1;

    private TKey[] _keys;
    private int[] _prev, _next;
    private sbyte[] _list;      // which list the node is linked into, or None
    private readonly int[] _head, _tail, _length;
    private readonly Dictionary<TKey, int> _slots;
    private readonly Stack<int> _freeSlots = new();
    private int _used;

    public SlotLists(int lists, int capacity)
    {
        capacity = Math.Max(capacity, 16);
        _keys = new TKey[capacity];
        _prev = new int[capacity];
        _next = new int[capacity];
        _list = new sbyte[capacity];
        Home = new sbyte[capacity];
        Counter = new byte[capacity];
        _head = Enumerable.Repeat(None, lists).ToArray();
        _tail = Enumerable.Repeat(None, lists).ToArray();
        _length = new int[lists];
        _slots = new Dictionary<TKey, int>(capacity);
    }

    /// <summary>A per-node byte for the policy (a frequency counter, say).</summary>
    public byte[] Counter { get; private set; }

    /// <summary>The list a node belongs to even while it is unlinked (pinned).</summary>
    public sbyte[] Home { get; private set; }

    public int Count => _slots.Count;
    public int Length(int list) => _length[list];
    public int Tail(int list) => _tail[list];
    public TKey Key(int slot) => _keys[slot];
    public bool IsLinked(int slot) => _list[slot] != None;

    public bool TryFind(TKey key, out int slot) => _slots.TryGetValue(key, out slot);

    /// <summary>A new, unlinked node for <paramref name="key"/>.</summary>
    public int Add(TKey key)
    {
        int slot = _freeSlots.Count > 0 ? _freeSlots.Pop() : _used++;
        if (slot >= _keys.Length) Grow();
        _keys[slot] = key;
        _list[slot] = None;
        Home[slot] = None;
        Counter[slot] = 0;
        _slots.Add(key, slot);
        return slot;
    }

    public void Delete(int slot)
    {
        Unlink(slot);
        _slots.Remove(_keys[slot]);
        _keys[slot] = default!;
        _freeSlots.Push(slot);
    }

    public void LinkAtHead(int slot, int list)
    {
        Unlink(slot);
        _prev[slot] = None;
        _next[slot] = _head[list];
        if (_head[list] != None) _prev[_head[list]] = slot;
        _head[list] = slot;
        if (_tail[list] == None) _tail[list] = slot;
        _list[slot] = (sbyte)list;
        Home[slot] = (sbyte)list;
        _length[list]++;
    }

    public void Unlink(int slot)
    {
        int list = _list[slot];
        if (list == None) return;
        int p = _prev[slot], n = _next[slot];
        if (p != None) _next[p] = n; else _head[list] = n;
        if (n != None) _prev[n] = p; else _tail[list] = p;
        _list[slot] = None;
        _length[list]--;
    }

    private void Grow()
    {
        int size = _keys.Length * 2;
        Array.Resize(ref _keys, size);
        Array.Resize(ref _prev, size);
        Array.Resize(ref _next, size);
        Array.Resize(ref _list, size);
        var home = Home; Array.Resize(ref home, size); Home = home;
        var counter = Counter; Array.Resize(ref counter, size); Counter = counter;
    }
}
