using Wsss.Samples.Bench;

// Minimal entry point for the benchmarks of this branch; the lead's CLI (System.CommandLine) replaces it.
if (args.Length >= 2 && args[0] == "bench" && args[1] == "engine")
{
    return EngineBenchmark.Run(args[2..]);
}

Console.Error.WriteLine("usage: Wsss.Samples bench engine [--rounds N] [--conv-iterations N] [--steps N]");
return 2;
