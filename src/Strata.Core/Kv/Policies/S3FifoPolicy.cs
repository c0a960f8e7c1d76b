namespace Strata.Kv.Policies;

/// <summary>
/// S3-FIFO (Yang et al., SOSP 2023): a small FIFO (a tenth of the capacity) takes new keys, a main FIFO keeps keys that
/// were used again, and a ghost FIFO remembers keys recently dropped from the small one so that their return goes
/// straight to main. One-time blocks — the unique tail of most prompts — leave through the small queue without
/// displacing shared prefixes, which is what LRU gets wrong on prefix-cache traffic. Frequencies count to 3; main is
/// a CLOCK-like FIFO that gives a used key another round.
/// </summary>
public sealed class S3FifoPolicy<TKey> : IEvictionPolicy<TKey> where TKey : notnull, IEquatable<TKey>
{
    private const int Small = 0, Main = 1;
    private const byte MaxFrequency = 3;

    private readonly SlotLists<TKey> _lists;
    private readonly int _smallTarget;
    private readonly TKey[] _ghostRing;
    private readonly Dictionary<TKey, int> _ghost; // key → occurrences in the ring
    private int _ghostNext, _ghostFilled;

    /// <param name="smallFraction">The small queue's share of the capacity (the paper's 10 %).</param>
    /// <param name="ghostFactor">Keys the ghost list remembers, as a multiple of the capacity (the paper's: main's size).</param>
    public S3FifoPolicy(int capacity, double smallFraction = 0.1, double ghostFactor = 0.9)
    {
        capacity = Math.Max(1, capacity);
        _lists = new SlotLists<TKey>(2, capacity);
        _smallTarget = Math.Max(1, (int)(capacity * smallFraction));
        _ghostRing = new TKey[Math.Max(1, (int)(capacity * ghostFactor))];
        _ghost = new Dictionary<TKey, int>(_ghostRing.Length);
    }

    public string Name => "s3fifo";
    public int Count => _lists.Count;

    public void Admit(TKey key, bool pinned = false)
    {
        if (_lists.TryFind(key, out _)) throw new InvalidOperationException($"key {key} is already resident");
        int slot = _lists.Add(key);
        int list = _ghost.ContainsKey(key) ? Main : Small;
        _lists.LinkAtHead(slot, list);
        if (pinned) _lists.Unlink(slot);
    }

    public void Hit(TKey key)
    {
        if (_lists.TryFind(key, out int slot) && _lists.Counter[slot] < MaxFrequency) _lists.Counter[slot]++;
    }

    public void Pin(TKey key)
    {
        if (_lists.TryFind(key, out int slot)) _lists.Unlink(slot);
    }

    public void Unpin(TKey key)
    {
        if (_lists.TryFind(key, out int slot) && !_lists.IsLinked(slot)) _lists.LinkAtHead(slot, _lists.Home[slot]);
    }

    public void Remove(TKey key)
    {
        if (_lists.TryFind(key, out int slot)) _lists.Delete(slot);
    }

    public bool TryEvict(out TKey key)
    {
        // Each pass evicts a key, moves one to main, or takes one from its frequency (at most 3): that bounds the work.
        for (int guard = (MaxFrequency + 2) * _lists.Count + 2; guard > 0; guard--)
        {
            bool fromSmall = _lists.Length(Small) > 0 && (_lists.Length(Small) >= _smallTarget || _lists.Length(Main) == 0);
            int slot = _lists.Tail(fromSmall ? Small : Main);
            if (slot == SlotLists<TKey>.None) break;
            if (fromSmall)
            {
                if (_lists.Counter[slot] > 0)
                {
                    _lists.Counter[slot] = 0;
                    _lists.LinkAtHead(slot, Main);
                    continue;
                }
                key = _lists.Key(slot);
                RememberGhost(key);
                _lists.Delete(slot);
                return true;
            }
            if (_lists.Counter[slot] > 0)
            {
                _lists.Counter[slot]--;
                _lists.LinkAtHead(slot, Main);
                continue;
            }
            key = _lists.Key(slot);
            _lists.Delete(slot);
            return true;
        }
        key = default!;
        return false;
    }

    private void RememberGhost(TKey key)
    {
        if (_ghostFilled == _ghostRing.Length)
        {
            var old = _ghostRing[_ghostNext];
            if (--_ghost[old] == 0) _ghost.Remove(old);
        }
        else _ghostFilled++;
        _ghostRing[_ghostNext] = key;
        _ghost[key] = _ghost.GetValueOrDefault(key) + 1;
        _ghostNext = (_ghostNext + 1) % _ghostRing.Length;
    }
}
