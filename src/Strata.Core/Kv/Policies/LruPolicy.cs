namespace Strata.Kv.Policies;

/// <summary>Least recently used: one list, most recent at the head; pinned keys are unlinked until unpinned.</summary>
public sealed class LruPolicy<TKey>(int capacity) : IEvictionPolicy<TKey> where TKey : notnull, IEquatable<TKey>
{
    private readonly SlotLists<TKey> _lists = new(1, capacity);

    public string Name => "lru";
    public int Count => _lists.Count;

    public void Admit(TKey key, bool pinned = false)
    {
        if (_lists.TryFind(key, out _)) throw new InvalidOperationException($"key {key} is already resident");
        int slot = _lists.Add(key);
        if (!pinned) _lists.LinkAtHead(slot, 0);
    }

    public void Hit(TKey key)
    {
        if (_lists.TryFind(key, out int slot) && _lists.IsLinked(slot)) _lists.LinkAtHead(slot, 0);
    }

    public void Pin(TKey key)
    {
        if (_lists.TryFind(key, out int slot)) _lists.Unlink(slot);
    }

    public void Unpin(TKey key)
    {
        if (_lists.TryFind(key, out int slot)) _lists.LinkAtHead(slot, 0);
    }

    public void Remove(TKey key)
    {
        if (_lists.TryFind(key, out int slot)) _lists.Delete(slot);
    }

    public bool TryEvict(out TKey key)
    {
        int slot = _lists.Tail(0);
        if (slot == SlotLists<TKey>.None) { key = default!; return false; }
        key = _lists.Key(slot);
        _lists.Delete(slot);
        return true;
    }
}
