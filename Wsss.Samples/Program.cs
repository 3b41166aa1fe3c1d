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

// bench NAME [args...]: runs Wsss.Samples.Bench.{Name}Benchmark.Run(args), found by type name.
var benchName = new Argument<string>("name") { Description = "Benchmark name (e.g. seeds, training)." };
var benchArgs = new Argument<string[]>("args") { Description = "Arguments for the benchmark.", Arity = ArgumentArity.ZeroOrMore };
var bench = new Command("bench", "Runs a benchmark from Wsss.Samples/Bench by name.") { benchName, benchArgs };
bench.TreatUnmatchedTokensAsErrors = false;
bench.SetAction(parse => Cli.Guard(() =>
{
    string name = parse.GetValue(benchName)!;
    var type = typeof(Cli).Assembly.GetTypes().FirstOrDefault(t =>
        t.Namespace == "Wsss.Samples.Bench" && t.Name.Equals(name + "Benchmark", StringComparison.OrdinalIgnoreCase));
    var run = type?.GetMethod("Run", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static, [typeof(string[])]);
    if (run is null)
    {
        return Cli.Fail($"no benchmark named '{name}'");
    }

    string[] rest = [.. parse.GetValue(benchArgs) ?? [], .. parse.UnmatchedTokens];
    try
    {
        return (int)run.Invoke(null, [rest])!;
    }
    catch (System.Reflection.TargetInvocationException e) when (e.InnerException is not null)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
        throw;
    }
}));
root.Subcommands.Add(bench);

return root.Parse(args).Invoke();
