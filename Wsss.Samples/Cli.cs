using System.Globalization;
using Wsss.Data;
using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;
using Wsss.Training;

namespace Wsss.Samples;

/// <summary>Shared command-line plumbing: one-line failure reasons and non-zero exit codes.</summary>
internal static class Cli
{
    /// <summary>Exit code of a failure that the tool explains (bad arguments, bad files, diverged training...).</summary>
    public const int FailureExitCode = 2;

    /// <summary>Exit code after Ctrl+C.</summary>
    public const int CancelledExitCode = 130;

    public static int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException
                                       or System.Runtime.InteropServices.ExternalException or FormatException or DllNotFoundException or NotSupportedException
                                       or DatasetException or TrainingDivergedException or UnauthorizedAccessException)
        {
            return Fail(e.Message);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return CancelledExitCode;
        }
    }

    public static int Fail(string reason)
    {
        Console.Error.WriteLine($"error: {reason.ReplaceLineEndings(" ")}");
        return FailureExitCode;
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
        text.Equals("auto", StringComparison.OrdinalIgnoreCase) ? Devices.BestAvailable : Devices.Parse(text);

    /// <summary>Parses "0.5,0.75,1" (commas or spaces) into positive scales.</summary>
    public static IReadOnlyList<double> ParseScales(string text)
    {
        var parts = text.Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0)
        {
            throw new ArgumentException($"--scales needs at least one scale, got '{text}'.");
        }

        return parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v)
            ? v
            : throw new ArgumentException($"--scales: '{p}' is not a positive number (use e.g. 0.5,1,1.5).")).ToArray();
    }

    /// <summary>Formats a number with the invariant culture, so logs and JSON never get decimal commas.</summary>
    public static string F(double value, string format = "F4") => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Cancels <paramref name="source"/> on the first Ctrl+C (the process keeps running so checkpoints can be written); a second Ctrl+C terminates.</summary>
    public static IDisposable CancelOnCtrlC(CancellationTokenSource source)
    {
        ConsoleCancelEventHandler handler = (_, e) =>
        {
            if (!source.IsCancellationRequested)
            {
                e.Cancel = true;
                Console.Error.WriteLine("stopping after the current step (Ctrl+C again to kill)...");
                source.Cancel();
            }
        };
        Console.CancelKeyPress += handler;
        return new Unsubscribe(() => Console.CancelKeyPress -= handler);
    }

    /// <summary>The status text of a training step: short for the bar, the trainer's full line for logs.</summary>
    public static string FormattableLine(TrainingProgress p, bool plain) => plain
        ? FormattableString.Invariant($"loss {p.Loss:F4} (cls {p.ClassificationLoss:F4}, seed {p.SeedLoss:F4}, energy {p.EnergyLoss:F4}) lr {p.LearningRate:E2} seeds {p.SeedCoverage:P0} {p.ImagesPerSecond:F1} img/s")
        : FormattableString.Invariant($"loss {p.Loss:F3} cls {p.ClassificationLoss:F3} seed {p.SeedLoss:F3}");

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}

