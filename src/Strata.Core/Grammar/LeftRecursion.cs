namespace Strata.Grammar;

/// <summary>
/// Refuses left recursion: a rule that can reach a call of itself without consuming a byte (directly, through other
/// rules, or past rules that can match the empty string). A pushdown matcher would push frames for ever on it.
/// </summary>
internal static class LeftRecursion
{
    public static void Check(ByteNfa nfa, Grammar grammar)
    {
        int rules = nfa.RuleStart.Length;
        var nullable = Nullable(nfa);
        // calls[r]: the rules r can enter before consuming anything.
        var calls = new List<int>[rules];
        var seen = new HashSet<int>();
        var work = new Stack<int>();
        for (int r = 0; r < rules; r++)
        {
            calls[r] = new List<int>();
            seen.Clear();
            Explore(nfa, nfa.RuleStart[r], nullable, seen, work, callee => { if (!calls[r].Contains(callee)) calls[r].Add(callee); });
        }

        // Depth-first search for a cycle, iteratively (grammars may have thousands of rules).
        var color = new byte[rules]; // 0 new, 1 on the path, 2 done
        var parent = new int[rules];
        for (int root = 0; root < rules; root++)
        {
            if (color[root] != 0) continue;
            var stack = new Stack<(int Rule, int Next)>();
            stack.Push((root, 0));
            color[root] = 1;
            parent[root] = -1;
            while (stack.Count > 0)
            {
                var (r, next) = stack.Pop();
                if (next < calls[r].Count)
                {
                    stack.Push((r, next + 1));
                    int s = calls[r][next];
                    if (color[s] == 1) throw Cycle(grammar, nfa, parent, r, s);
                    if (color[s] == 0)
                    {
                        color[s] = 1;
                        parent[s] = r;
                        stack.Push((s, 0));
                    }
                }
                else color[r] = 2;
            }
        }
    }

    private static GrammarException Cycle(Grammar grammar, ByteNfa nfa, int[] parent, int from, int to)
    {
        var path = new List<string> { nfa.RuleNames[to] };
        for (int r = from; r != to && r >= 0; r = parent[r]) path.Add(nfa.RuleNames[r]);
        path.Add(nfa.RuleNames[to]);
        path.Reverse();
        var rule = grammar[nfa.RuleNames[to]];
        return new GrammarException(
            $"GBNF {rule.Line}:{rule.Column}: rule '{rule.Name}' is left-recursive ({string.Join(" -> ", path)} without consuming input); rewrite it with repetition, e.g. 'list ::= item (\",\" item)*'");
    }

    /// <summary>Follows epsilon steps and calls from <paramref name="state"/>, reporting each rule entered; a call to a
    /// rule that can match nothing also continues at its return state.</summary>
    private static void Explore(ByteNfa nfa, int state, bool[] nullable, HashSet<int> seen, Stack<int> work, Action<int> onCall)
    {
        work.Clear();
        work.Push(state);
        while (work.Count > 0)
        {
            int q = work.Pop();
            if (!seen.Add(q)) continue;
            for (int e = nfa.EdgeStart[q]; e < nfa.EdgeStart[q + 1]; e++)
            {
                switch (nfa.Kind[e])
                {
                    case ByteNfa.EpsilonEdge: work.Push(nfa.Target[e]); break;
                    case ByteNfa.CallEdge:
                        onCall(nfa.Callee[e]);
                        if (nullable[nfa.Callee[e]]) work.Push(nfa.Target[e]);
                        break;
                }
            }
        }
    }

    /// <summary>Rules that can match the empty string (a fixed point: a call to a nullable rule is an epsilon step).</summary>
    public static bool[] Nullable(ByteNfa nfa)
    {
        int rules = nfa.RuleStart.Length;
        var nullable = new bool[rules];
        var seen = new HashSet<int>();
        var work = new Stack<int>();
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int r = 0; r < rules; r++)
            {
                if (nullable[r]) continue;
                seen.Clear();
                Explore(nfa, nfa.RuleStart[r], nullable, seen, work, _ => { });
                foreach (int q in seen)
                    if (nfa.Accept[q]) { nullable[r] = true; changed = true; break; }
            }
        }
        return nullable;
    }
}
