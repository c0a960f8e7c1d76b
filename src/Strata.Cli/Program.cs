using Strata.Cli;

// UTF-8 without a BOM on stdout and stderr, set before anything (Spectre.Console included) looks at the encoding.
Console.OutputEncoding = new System.Text.UTF8Encoding(false);
return CliApp.Run(args);
