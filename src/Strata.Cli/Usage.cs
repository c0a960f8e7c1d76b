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
          strata convert HF_DIR -o OUT.gguf [--type f32|f16|bf16|q8_0] [--threads N]
          strata quantize IN.gguf OUT.gguf TYPE [--threads N]
          strata perplexity -m MODEL --file TEXT [--ctx N] [--threads N] [--json]

        run        generate text; streams to stdout, or prints one JSON object with --json. --temp 0 is greedy.
                   Without -p or --tokens: an interactive chat (the model's chat template, history kept; Ctrl-C
                   stops an answer, Ctrl-D exits). Without -m: the default model shipped with Strata.
        logits     print the logits after every position of one batch as JSON.
        tokenize   print the token ids of TEXT (BOS included when the model adds it).
        inspect    print metadata, an architecture summary and the tensor table.
        convert    turn a Hugging Face folder (config.json, *.safetensors, tokenizer.json) of a Llama, Mistral,
                   Qwen2 or Qwen3 model into GGUF; --type sets the matrices' type (default f16).
        quantize   quantize a GGUF model; TYPE is one of Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q4_K_S Q4_K_M Q5_K Q5_K_S
                   Q5_K_M Q6_K (the K mixes as llama.cpp's llama-quantize builds them).
        perplexity perplexity of a text in windows of --ctx tokens (default 512), as llama.cpp's perplexity tool
                   computes it: prints [chunk]running-estimate and the final estimate, or JSON with --json.

        """;
}
