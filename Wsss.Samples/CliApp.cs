using System.CommandLine;
using Wsss.Samples.Commands;

namespace Wsss.Samples;

/// <summary>The command tree of the `Wsss.Samples` tool; built here so tests can run commands in-process.</summary>
internal static class CliApp
{
    public static RootCommand Build()
    {
        var root = new RootCommand("Wsss: weakly supervised semantic segmentation (RRM) on libtorch. Start with `quickstart`.");
        root.Subcommands.Add(QuickstartCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());
        root.Subcommands.Add(SeedsCommand.Create());
        root.Subcommands.Add(ExportOnnxCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code (parse errors give 1 with the parser's message).</summary>
    public static int Run(string[] args) => Build().Parse(args).Invoke();
}
