using Wsss.Samples;

return CliApp.Run(args);
