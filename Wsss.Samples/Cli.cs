using Wsss.Torch;

namespace Wsss.Samples;

/// <summary>Shared command-line plumbing: one-line failure reasons and non-zero exit codes.</summary>
internal static class Cli
{
    public static int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException
                                       or WsssNativeException or FormatException or DllNotFoundException or NotSupportedException)
        {
            return Fail(e.Message);
        }
        catch (OperationCanceledException)
        {
            return Fail("cancelled");
        }
    }

    public static int Fail(string reason)
    {
        Console.Error.WriteLine($"error: {reason.ReplaceLineEndings(" ")}");
        return 2;
    }

    /// <summary>Runs Wsss.Samples.Bench.{Name}Benchmark.Run(args); benchmarks are found by name so each lives in its own file.</summary>
    public static int RunBenchmark(string name, string[] args)
    {
        string typeName = $"Wsss.Samples.Bench.{char.ToUpperInvariant(name[0])}{name[1..].ToLowerInvariant()}Benchmark";
        var run = typeof(Cli).Assembly.GetType(typeName)?.GetMethod("Run", [typeof(string[])]);
        if (run is null)
        {
            var known = typeof(Cli).Assembly.GetTypes()
                .Where(t => t.Namespace == "Wsss.Samples.Bench" && t.Name.EndsWith("Benchmark", StringComparison.Ordinal))
                .Select(t => t.Name[..^"Benchmark".Length].ToLowerInvariant()).Order();
            return Fail($"unknown benchmark '{name}': use one of {string.Join(", ", known)}");
        }

        try
        {
            return (int)run.Invoke(null, [args])!;
        }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    public static Device ParseDevice(string text) =>
        text.Equals("auto", StringComparison.OrdinalIgnoreCase) ? Device.BestAvailable : Device.Parse(text);
}
