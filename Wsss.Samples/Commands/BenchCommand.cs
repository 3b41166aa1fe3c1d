using System.CommandLine;
using System.Reflection;

namespace Wsss.Samples.Commands;

/// <summary>
/// `bench NAME [ARGS...]`: runs the benchmark class Wsss.Samples.Bench.{Name}Benchmark (a static
/// <c>int Run(string[] args)</c>), found by reflection so benchmarks can be added without touching the command tree.
/// </summary>
internal static class BenchCommand
{
    private const string Namespace = "Wsss.Samples.Bench";

    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = $"Benchmark to run: {string.Join(", ", Available().DefaultIfEmpty("(none built in)"))}." };
        var rest = new Argument<string[]>("args") { Description = "Arguments passed to the benchmark unchanged (see `bench NAME --help` where the benchmark supports it).", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("bench", "Run a performance benchmark and print its figures.") { name, rest };

        // The benchmark owns its arguments (including options such as --iterations): pass unknown tokens through.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse => Cli.Guard(() =>
        {
            string[] args = [.. parse.GetValue(rest) ?? [], .. parse.UnmatchedTokens];
            return Run(parse.GetValue(name)!, args);
        }));
        return command;
    }

    public static int Run(string name, string[] args)
    {
        var run = Find(name);
        if (run is null)
        {
            return Cli.Fail($"unknown benchmark '{name}'; available: {string.Join(", ", Available().DefaultIfEmpty("none"))}.");
        }

        try
        {
            return (int)run.Invoke(null, [args])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    /// <summary>Names of the benchmarks in this build, lower case.</summary>
    public static IEnumerable<string> Available() =>
        typeof(BenchCommand).Assembly.GetTypes()
            .Where(t => t.Namespace == Namespace && t.Name.EndsWith("Benchmark", StringComparison.Ordinal) && RunMethod(t) is not null)
            .Select(t => t.Name[..^"Benchmark".Length].ToLowerInvariant())
            .Order(StringComparer.Ordinal);

    private static MethodInfo? Find(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || !name.All(char.IsLetterOrDigit))
        {
            return null;
        }

        var type = typeof(BenchCommand).Assembly.GetType($"{Namespace}.{name}Benchmark", throwOnError: false, ignoreCase: true);
        return type is null ? null : RunMethod(type);
    }

    private static MethodInfo? RunMethod(Type type)
    {
        var m = type.GetMethod("Run", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static, [typeof(string[])]);
        return m is not null && m.ReturnType == typeof(int) ? m : null;
    }
}
