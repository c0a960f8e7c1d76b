// A console chat on Strata in-process: the default model (from Strata.Models.Default), answers streamed as they are
// generated, and one conversation id, so each turn sends only its new message and reuses the earlier turns' KV.
using Microsoft.Extensions.AI;
using Strata.Extensions.AI;

using IChatClient chat = new StrataChatClient();
var options = new ChatOptions { ConversationId = "console", MaxOutputTokens = 64 };

Console.Error.WriteLine("Name a verse (Psalms 23:1); an empty line ends.");
while (Console.ReadLine() is { Length: > 0 } line)
{
    await foreach (var update in chat.GetStreamingResponseAsync(line, options))
        Console.Write(update.Text);
    Console.WriteLine();
}
