using System.Text;
using System.Text.Json;
using Strata.Tests.Support;
using Strata.Tokenizers;
using Xunit.Abstractions;

namespace Strata.Tests.Tokenizers;

/// <summary>Strata's NFC against Node's (ICU): every code point on its own, and random runs of letters, combining marks
/// in and out of canonical order, and Hangul jamo.</summary>
public class NfcTests(ITestOutputHelper log)
{
    private sealed record Reference(string unicode, string[] texts, Dictionary<string, string> single);

    [Fact]
    public void MatchesIcu()
    {
        var rng = new Random(15);
        string[] pieces =
        [
            "a", "e", "o", "A", "u", "n", "c", "C", "s", "ω", "α", "ι", "Ω", "ж", "и", "क", "ড", "ร", "ק", "ل", "한", " ", "x",
            "\u0300", "\u0301", "\u0302", "\u0303", "\u0308", "\u030a", "\u030c", "\u0323", "\u0327", "\u0328", "\u0331", "\u0345",
            "\u0313", "\u0314", "\u0342", "\u093c", "\u09bc", "\u05b4", "\u05bc", "\u0651", "\u064e", "\u0e48", "\u302a", "\u1dce",
            "\u1100", "\u1161", "\u11a8", "\u11c2", "\u1175", "\u212b", "\u2126", "\u0344", "\u0f73", "\u0f75", "\u0f81", "\ufb01",
            "\u00c5", "\u1e0b\u0323", "\u0041\u030a", "\U0001d15e", "\U0001d165", "\U00011099\U000110ba", "\U000114b9\U000114ba",
        ];
        var texts = Enumerable.Range(0, 3000).Select(_ =>
        {
            var sb = new StringBuilder();
            int n = rng.Next(1, 12);
            for (int i = 0; i < n; i++) sb.Append(pieces[rng.Next(pieces.Length)]);
            return sb.ToString();
        }).ToArray();
        var reference = RunNode(texts);
        log.WriteLine($"Strata's tables: Unicode {Nfc.UnicodeVersion}; Node's ICU: Unicode {reference.unicode}");

        var failures = new List<string>();
        for (int i = 0; i < texts.Length; i++)
        {
            string ours = Nfc.Normalize(texts[i]);
            if (ours != reference.texts[i]) failures.Add($"{Show(texts[i])}: icu {Show(reference.texts[i])} strata {Show(ours)}");
            Assert.Equal(ours, Nfc.Normalize(ours));
        }
        // Every code point: those ICU changes, and that Strata changes nothing else.
        int newer = 0;
        for (int cp = 0; cp < 0x110000; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) continue;
            string s = char.ConvertFromUtf32(cp);
            string ours = Nfc.Normalize(s);
            string icu = reference.single.TryGetValue(cp.ToString(), out var n) ? n : s;
            if (ours == icu) continue;
            // Characters assigned after Strata's Unicode version are the one allowed difference; their count is pinned below.
            if (ours == s) { newer++; log.WriteLine($"U+{cp:X4} (newer than Unicode {Nfc.UnicodeVersion}): icu {Show(icu)}"); continue; }
            failures.Add($"U+{cp:X4}: icu {Show(icu)} strata {Show(ours)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} differ:\n" + string.Join("\n", failures.Take(30)));
        Assert.True(newer <= 16, $"{newer} code points decompose under ICU only");
    }

    [Fact]
    public void QuickCheckAgreesWithNormalize()
    {
        foreach (string s in new[] { "plain ascii", "café", "cafe\u0301", "한국어", "\u1100\u1161", "日本語", "😀👍🏽", "\u212b", "x\u0323\u0307" })
            Assert.Equal(Nfc.IsQuickNormalized(s), Nfc.IsQuickNormalized(s) && Nfc.Normalize(s) == s);
        Assert.True(Nfc.IsQuickNormalized("café 한국어 😀"));
        Assert.False(Nfc.IsQuickNormalized("cafe\u0301"));
        Assert.Same("ascii only", Nfc.Normalize("ascii only"));
    }

    private static string Show(string s) => string.Join(" ", s.EnumerateRunes().Select(r => $"{r.Value:X4}"));

    private static Reference RunNode(string[] texts) => NodeScript.Run<Reference>("nfc-reference.mjs", texts);
}
