namespace Strata.Cli;

internal static class Usage
{
    public const string Text = """
        strata — run GGUF language models on the CPU

        usage:
          strata run [-m MODEL] [-p TEXT | --tokens 1,2,3] [--system TEXT] [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]
                     [--repeat-penalty R] [--presence-penalty P] [--frequency-penalty F] [--seed S]
                     [--stop TEXT]... [-c CTX] [--threads N] [--json]
          strata logits -m MODEL --tokens 1,2,3 [--threads N] [--json]
          strata tokenize -m MODEL [--json] [--no-bos] [--no-parse-special] TEXT
          strata inspect MODEL

        run        generate text; streams to stdout, or prints one JSON object with --json. --temp 0 is greedy.
                   Without -p or --tokens: an interactive chat (the model's chat template, history kept; Ctrl-C
                   stops an answer, Ctrl-D exits). Without -m: the default model shipped with Strata.
        logits     print the logits after every position of one batch as JSON.
        tokenize   print the token ids of TEXT (BOS included when the model adds it).
        inspect    print metadata, an architecture summary and the tensor table.

        """;
}
