namespace Strata.Engine.Serving;

/// <summary>
/// Waiting requests, ordered by priority (lower first) and, within a priority, round-robin across users with one FIFO
/// per user: a user who sends a hundred requests waits behind their own, not in front of everyone else's.
/// Preempted requests go back to the front of their user's queue.
/// </summary>
internal sealed class FairQueue
{
    private readonly SortedDictionary<int, PriorityLevel> _levels = new();

    public int Count { get; private set; }

    public void Enqueue(RequestState r, bool front = false)
    {
        int p = r.Request.Priority;
        if (!_levels.TryGetValue(p, out var level)) _levels[p] = level = new PriorityLevel();
        level.Add(r, front);
        Count++;
    }

    public RequestState? Peek()
    {
        foreach (var level in _levels.Values)
            if (level.Peek() is { } r) return r;
        return null;
    }

    public RequestState Dequeue()
    {
        foreach (var (p, level) in _levels)
        {
            if (level.Peek() is null) continue;
            var r = level.Take();
            if (level.IsEmpty) _levels.Remove(p);
            Count--;
            return r;
        }
        throw new InvalidOperationException("the queue is empty");
    }

    /// <summary>Takes out every request whose caller gave up (cancelled) and returns them.</summary>
    public List<RequestState> RemoveCancelled()
    {
        var gone = new List<RequestState>();
        foreach (var (p, level) in _levels.ToArray())
        {
            gone.AddRange(level.RemoveWhere(r => r.Cancel.IsCancellationRequested));
            if (level.IsEmpty) _levels.Remove(p);
        }
        Count -= gone.Count;
        return gone;
    }

    /// <summary>One priority: a ring of users, each with a FIFO.</summary>
    private sealed class PriorityLevel
    {
        private readonly Dictionary<string, LinkedList<RequestState>> _byUser = new();
        private readonly LinkedList<string> _ring = new(); // users with waiting requests, next at the head

        public bool IsEmpty => _ring.Count == 0;

        public void Add(RequestState r, bool front)
        {
            string user = r.Request.User;
            if (!_byUser.TryGetValue(user, out var q))
            {
                _byUser[user] = q = new LinkedList<RequestState>();
                if (front) _ring.AddFirst(user); else _ring.AddLast(user);
            }
            if (front) q.AddFirst(r); else q.AddLast(r);
        }

        public RequestState? Peek() => _ring.First is { } u ? _byUser[u.Value].First!.Value : null;

        public RequestState Take()
        {
            string user = _ring.First!.Value;
            _ring.RemoveFirst();
            var q = _byUser[user];
            var r = q.First!.Value;
            q.RemoveFirst();
            if (q.Count > 0) _ring.AddLast(user); // the user's next request waits for everyone else's turn
            else _byUser.Remove(user);
            return r;
        }

        public List<RequestState> RemoveWhere(Func<RequestState, bool> gone)
        {
            var removed = new List<RequestState>();
            foreach (var (user, q) in _byUser.ToArray())
            {
                for (var node = q.First; node is not null;)
                {
                    var next = node.Next;
                    if (gone(node.Value)) { removed.Add(node.Value); q.Remove(node); }
                    node = next;
                }
                if (q.Count == 0) { _byUser.Remove(user); _ring.Remove(user); }
            }
            return removed;
        }
    }
}
