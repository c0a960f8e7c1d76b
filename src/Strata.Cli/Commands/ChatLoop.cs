using Strata.Chat;
using Strata.Engine;

namespace Strata.Cli.Commands;

/// <summary>
/// Interactive chat (<c>strata run</c> without a prompt): reads a line per user turn, renders the conversation with
/// the model's chat template, and streams the answer. The KV cache of earlier turns is reused; Ctrl-C stops the
/// current answer, end of input (Ctrl-D) ends the chat. Works the same on a terminal and with piped input.
/// </summary>
internal static class ChatLoop
{
    public static int Run(Model model, GenerationOptions options, string? system)
    {
        var template = ChatPrompt.TemplateFor(model);
        var messages = new List<ChatMessage>();
        if (!string.IsNullOrEmpty(system)) messages.Add(new ChatMessage("system", system));

        bool terminal = !Console.IsInputRedirected;
        if (terminal) Console.Error.WriteLine("strata chat — Ctrl-C stops an answer, Ctrl-D exits.");
        using var generator = new Generator(model);
        CancellationTokenSource? turn = null;
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // Ctrl-C stops the answer being generated; with none running it ends the chat as usual.
            if (turn is { IsCancellationRequested: false }) { e.Cancel = true; turn.Cancel(); }
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var stdout = Console.Out;
            while (true)
            {
                if (terminal) { stdout.Write("> "); stdout.Flush(); }
                string? line = Console.In.ReadLine();
                if (line is null) break;
                if (line.Trim().Length == 0) continue;
                messages.Add(new ChatMessage("user", line));
                int[] prompt = PromptTokens(model, template, messages, options);

                using (turn = new CancellationTokenSource())
                {
                    var result = generator.Generate(prompt, options, text => { stdout.Write(text); stdout.Flush(); }, turn.Token);
                    stdout.WriteLine();
                    messages.Add(new ChatMessage("assistant", result.Text));
                }
                turn = null;
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        return 0;
    }

    /// <summary>
    /// The rendered conversation as tokens. Oldest turns (after a system message) are dropped while it does not leave
    /// room for an answer in the context.
    /// </summary>
    private static int[] PromptTokens(Model model, ChatTemplate template, List<ChatMessage> messages, GenerationOptions options)
    {
        int room = options.MaxTokens > 0 ? Math.Min(options.MaxTokens, model.Context / 2) : model.Context / 4;
        while (true)
        {
            var tokens = ChatPrompt.Tokens(model, template, messages);
            int first = messages.Count > 0 && messages[0].Role == "system" ? 1 : 0;
            if (tokens.Length + room <= model.Context || messages.Count - first <= 1)
            {
                if (tokens.Length >= model.Context) throw new StrataException($"the message is {tokens.Length} tokens; the context holds {model.Context}");
                return tokens;
            }
            messages.RemoveAt(first);
        }
    }
}
