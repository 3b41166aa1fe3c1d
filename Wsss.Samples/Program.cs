using System.CommandLine;
using Wsss.Samples;
using Wsss.Torch;

var root = new RootCommand("Wsss: weakly supervised semantic segmentation (RRM) on libtorch.");

var demoOutput = new Option<string>("--output", "-o") { Description = "Folder for the picture of the prediction.", DefaultValueFactory = _ => "wsss-demo" };
var demoSteps = new Option<int>("--steps") { Description = "Training steps.", DefaultValueFactory = _ => 200 };
var deviceOption = new Option<string>("--device") { Description = "cpu, cuda, cuda:N or auto (a GPU when one is usable, else the CPU).", DefaultValueFactory = _ => "auto" };
var threadsOption = new Option<int>("--threads") { Description = "CPU threads for libtorch (default: all cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
var demo = new Command("demo", "Engine smoke demo: trains a tiny segmentation network on generated squares and writes a picture of its prediction.")
{
    demoOutput, demoSteps, deviceOption, threadsOption,
};
demo.SetAction(parse => Cli.Guard(() =>
{
    Torch.Threads = parse.GetValue(threadsOption);
    return EngineDemo.Run(parse.GetValue(demoOutput)!, parse.GetValue(demoSteps), Cli.ParseDevice(parse.GetValue(deviceOption)!));
}));
root.Subcommands.Add(demo);


var benchName = new Argument<string>("name") { Description = "engine | seeds | training | quality (each takes its own options; see docs)" };
var bench = new Command("bench", "Benchmarks that print figures (not tests); options after the name go to the benchmark.") { benchName };
bench.TreatUnmatchedTokensAsErrors = false;
bench.SetAction(parse => Cli.Guard(() => Cli.RunBenchmark(parse.GetValue(benchName)!, parse.UnmatchedTokens.ToArray())));
root.Subcommands.Add(bench);

return root.Parse(args).Invoke();
