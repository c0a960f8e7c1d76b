// A minimal ASP.NET Core app that injects IChatClient: Strata in-process, its options from the "Strata" section of
// appsettings.json, with Microsoft.Extensions.AI's logging middleware around it.
using Microsoft.Extensions.AI;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddStrataChatClient().UseLogging();

var app = builder.Build();
app.MapGet("/chat", async (string message, IChatClient chat, CancellationToken cancel) =>
    (await chat.GetResponseAsync(message, cancellationToken: cancel)).Text);
app.Run();
