using Ingest.Client;

return await CliApp.RunAsync(args, Console.Out, Console.Error);
