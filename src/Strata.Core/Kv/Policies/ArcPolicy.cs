namespace Strata.Kv.Policies;

/// <summary>
/// Adaptive Replacement Cache (Megiddo and Modha, FAST 2003): a recency list T1 of keys seen once and a frequency list
/// T2 of keys seen again, each with a ghost list of keys it recently evicted (B1, B2). A returning ghost shifts the
/// target size of T1 toward the list that would have kept it, so the cache adapts by itself between conversation
/// traffic (turns come back after a while: recency wins) and shared-prefix traffic (a few prefixes come back often,
/// among one-time prompt tails: frequency wins). Pinned keys are unlinked but keep their list and count toward it.
/// </summary>
public sealed class ArcPolicy<TKey> : IEvictionPolicy<TKey> where TKey : notnull, IEquatable<TKey>
{
    private const int T1 = 0, T2 = 1, B1 = 2, B2 = 3;

    private readonly SlotLists<TKey> _lists;
    private readonly int _capacity;
    private readonly int[] _size = new int[4];  // members of each list, pinned ones included
    private double _p;                          // target size of T1

    public ArcPolicy(int capacity)
    {
        _capacity = Math.Max(1, capacity);
        _lists = new SlotLists<TKey>(4, 2 * _capacity);
    }

    public string Name => "arc";
    public int Count => _size[T1] + _size[T2];

    /// <summary>Keys remembered in the ghost lists (for tests).</summary>
    public int GhostCount => _size[B1] + _size[B2];

    public void Admit(TKey key, bool pinned = false)
    {
        if (_lists.TryFind(key, out int slot))
        {
            int home = _lists.Home[slot];
            if (home is T1 or T2) throw new InvalidOperationException($"key {key} is already resident");
            // A ghost came back: the list that lost it should have been larger.
            if (home == B1) _p = Math.Min(_capacity, _p + Math.Max(1.0, (double)_size[B2] / Math.Max(1, _size[B1])));
            else _p = Math.Max(0, _p - Math.Max(1.0, (double)_size[B1] / Math.Max(1, _size[B2])));
            Move(slot, T2);
        }
        else
        {
            TrimGhosts();
            slot = _lists.Add(key);
            _size[T1]++;
            _lists.LinkAtHead(slot, T1);
        }
        if (pinned) _lists.Unlink(slot);
    }

    public void Hit(TKey key)
    {
        if (!_lists.TryFind(key, out int slot)) return;
        int home = _lists.Home[slot];
        if (home is not (T1 or T2)) return;
        bool linked = _lists.IsLinked(slot);
        Move(slot, T2);
        if (!linked) _lists.Unlink(slot);
    }

    public void Pin(TKey key)
    {
        if (_lists.TryFind(key, out int slot) && _lists.Home[slot] is T1 or T2) _lists.Unlink(slot);
    }

    public void Unpin(TKey key)
    {
        if (_lists.TryFind(key, out int slot) && !_lists.IsLinked(slot) && _lists.Home[slot] is T1 or T2)
            _lists.LinkAtHead(slot, _lists.Home[slot]);
    }

    public void Remove(TKey key)
    {
        if (!_lists.TryFind(key, out int slot)) return;
        _size[_lists.Home[slot]]--;
        _lists.Delete(slot);
    }

    public bool TryEvict(out TKey key)
    {
        // REPLACE: take from T1 while it is above its target, else from T2; fall back to the other list when the
        // preferred one has only pinned keys.
        bool fromT1 = _lists.Length(T1) > 0 && (_size[T1] > _p || _lists.Length(T2) == 0);
        int slot = _lists.Tail(fromT1 ? T1 : T2);
        if (slot == SlotLists<TKey>.None) slot = _lists.Tail(fromT1 ? T2 : T1);
        if (slot == SlotLists<TKey>.None) { key = default!; return false; }
        key = _lists.Key(slot);
        Move(slot, _lists.Home[slot] == T1 ? B1 : B2);
        TrimGhosts();
        return true;
    }

    private void Move(int slot, int list)
    {
        _size[_lists.Home[slot]]--;
        _size[list]++;
        _lists.LinkAtHead(slot, list);
    }

    // Directory bounds of ARC: |T1| + |B1| ≤ c and everything ≤ 2c.
    private void TrimGhosts()
    {
        while (_size[B1] > 0 && _size[T1] + _size[B1] > _capacity) DropGhost(B1);
        while (_size[B1] + _size[B2] > 0 && _size[T1] + _size[T2] + _size[B1] + _size[B2] > 2 * _capacity)
            DropGhost(_size[B2] > 0 ? B2 : B1);
    }

    private void DropGhost(int list)
    {
        int slot = _lists.Tail(list);
        _size[list]--;
        _lists.Delete(slot);
    }
}
