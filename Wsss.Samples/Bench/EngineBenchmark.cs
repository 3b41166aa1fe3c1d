using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.Samples.Bench;

/// <summary>
/// `bench engine`: the tensor engine itself, TorchSharp (libtorch 2.10) next to PyTorch (bench/pytorch_ops.py,
/// run as a child process where python3 with torch is installed), with the same thread count:
/// (1) dilated depthwise 3x3 convolutions, forward and forward + backward, the operation that libtorch 1.13's
/// oneDNN ran on its slow reference path (it made the previous engine hand-write their backward);
/// (2) the per-op cost of a 1-element add, with and without a dispose scope;
/// (3) ms/step and minor page faults of a small training loop with glibc's defaults and after
/// <see cref="TorchEngine.ConfigureAllocator"/>, in separate child processes run alternately.
/// Figures are medians over repeated rounds, because the machine may be shared.
/// Options: --threads N (default: all cores), --rounds N (default 5), --steps N (default 30), --skip-allocator, --no-pytorch.
/// </summary>
internal static class EngineBenchmark
{
    private const int OpsPerRound = 20_000;

    public static int Run(string[] args)
    {
        int rounds = IntOption(args, "--rounds", 5);
        int steps = IntOption(args, "--steps", 30);
        int threads = IntOption(args, "--threads", Environment.ProcessorCount);
        int child = Array.IndexOf(args, "--allocator-child");
        if (child >= 0 && child + 1 < args.Length)
        {
            return AllocatorChild(args[child + 1], steps, threads);
        }

        TorchEngine.Threads = threads;
        TorchEngine.ConfigureAllocator();
        Console.WriteLine($"bench engine: TorchSharp {torch.__version__}, {threads} threads, {Environment.ProcessorCount} logical cores, rounds {rounds}");
#if DEBUG
        Console.WriteLine("warning: Debug build: the per-op figures include unoptimised managed code; run the Release build.");
#endif
        Dictionary<string, double>? py = args.Contains("--no-pytorch") ? null : RunPyTorch(threads, rounds);

        Console.WriteLine();
        Console.WriteLine("dilated depthwise conv 3x3, 4x384x41x41, channels-last (median ms)");
        Console.WriteLine($"  {"dilation",8} {"TorchSharp fwd",15} {"PyTorch fwd",12} {"TorchSharp fwd+bwd",19} {"PyTorch fwd+bwd",16}");
        using (var x = randn(4, 384, 41, 41).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2))
        {
            foreach (int d in new[] { 1, 2, 4 })
            {
                using var w = randn(384, 1, 3, 3).requires_grad_(true);
                using var xg = x.clone().requires_grad_(true);
                double forward = MedianMs(rounds, () =>
                {
                    using var scope = NewDisposeScope();
                    using var noGrad = no_grad();
                    nn.functional.conv2d(x, w, null, [1, 1], [d, d], [d, d], 384);
                });
                double backward = MedianMs(rounds, () =>
                {
                    using var scope = NewDisposeScope();
                    xg.grad?.zero_();
                    w.grad?.zero_();
                    nn.functional.conv2d(xg, w, null, [1, 1], [d, d], [d, d], 384).sum().backward();
                });
                Console.WriteLine(FormattableString.Invariant(
                    $"  {d,8} {forward,15:F1} {Py(py, $"dw_d{d}_forward_ms"),12} {backward,19:F1} {Py(py, $"dw_d{d}_backward_ms"),16}"));
            }
        }

        Console.WriteLine();
        PerOp(rounds, py);
        Console.WriteLine();
        if (!args.Contains("--skip-allocator"))
        {
            AllocatorEffect(steps, rounds, threads);
        }

        return 0;
    }

    private static void PerOp(int rounds, Dictionary<string, double>? py)
    {
        using var a = ones(1);
        using var b = ones(1);
        double scoped = MedianMs(rounds, () =>
        {
            using var scope = NewDisposeScope();
            for (int i = 0; i < OpsPerRound; i++)
            {
                _ = a.Plus(b);
            }
        }) * 1e6 / OpsPerRound;
        double disposed = MedianMs(rounds, () =>
        {
            for (int i = 0; i < OpsPerRound; i++)
            {
                using var c = a.Plus(b);
            }
        }) * 1e6 / OpsPerRound;
        Console.WriteLine($"1-element add, ns per op (median of {rounds} rounds x {OpsPerRound})");
        Console.WriteLine(FormattableString.Invariant($"  TorchSharp, result disposed at once {disposed,9:F0}"));
        Console.WriteLine(FormattableString.Invariant($"  TorchSharp, in a dispose scope      {scoped,9:F0}"));
        Console.WriteLine($"  PyTorch (Python)                    {Py(py, "add_ns", "F0"),9}");
    }

    private static string Py(Dictionary<string, double>? py, string key, string format = "F1") =>
        py is not null && py.TryGetValue(key, out double v) ? v.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static Dictionary<string, double>? RunPyTorch(int threads, int rounds)
    {
        string? script = RepoFile("bench/pytorch_ops.py");
        if (script is null)
        {
            Console.WriteLine("(bench/pytorch_ops.py not found: no PyTorch column.)");
            return null;
        }

        // Debian's python3-torch lives under /usr/bin/python3; another python3 on the PATH may lack torch.
        var psi = new ProcessStartInfo(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { script, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--rounds", rounds.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["OMP_WAIT_POLICY"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "PASSIVE";
        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                Console.WriteLine($"(PyTorch script failed with exit code {p.ExitCode}: {stderr.Result.Trim()}; install python3-torch for the PyTorch column.)");
                return null;
            }

            using var doc = JsonDocument.Parse(output);
            var result = new Dictionary<string, double>();
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.Number)
                {
                    result[property.Name] = property.Value.GetDouble();
                }
            }

            Console.WriteLine($"PyTorch {doc.RootElement.GetProperty("torch").GetString()} with {threads} threads (OMP_WAIT_POLICY as here).");
            return result;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException)
        {
            Console.WriteLine($"(PyTorch script could not run: {e.Message})");
            return null;
        }
    }

    /// <summary>
    /// Child-process mode (`bench engine --allocator-child default|configured`): one measurement of the
    /// training loop, printed as "alloc_ms_per_step=... faults_per_step=...". A fresh process per
    /// measurement keeps the heap state of one setting from leaking into the other.
    /// </summary>
    private static int AllocatorChild(string mode, int steps, int threads)
    {
        TorchEngine.Threads = threads;
        if (mode == "configured")
        {
            TorchEngine.ConfigureAllocator();
        }

        var (ms, faults) = TrainingLoop(steps);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"alloc_ms_per_step={ms:F3} faults_per_step={faults:F1}"));
        return 0;
    }

    private static (double Ms, double Faults) TrainingLoop(int steps)
    {
        manual_seed(1);
        using var net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding: 1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride: 2, padding: 1), nn.ReLU(),
            nn.Conv2d(64, 21, 1));
        using var opt = optim.SGD(net.parameters(), 1e-3, momentum: 0.9);
        using var x = randn(4, 3, 96, 96);
        using var target = zeros([4, 48, 48], ScalarType.Int64);
        Step(net, opt, x, target, 5);
        long f0 = MinorFaults();
        long t0 = Stopwatch.GetTimestamp();
        Step(net, opt, x, target, steps);
        return (Stopwatch.GetElapsedTime(t0).TotalMilliseconds / steps, (MinorFaults() - f0) / (double)steps);
    }

    private static void Step(TorchSharp.Modules.Sequential net, optim.Optimizer opt, Tensor x, Tensor target, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            nn.functional.cross_entropy(net.forward(x), target).backward();
            opt.step();
        }
    }

    private static void AllocatorEffect(int steps, int rounds, int threads)
    {
        Console.WriteLine($"training step, 3-layer conv net (3->32->64->21), batch 4, 3x96x96, forward + backward + SGD, {threads} threads");
        var results = new Dictionary<string, List<(double Ms, double Faults)>> { ["default"] = new(), ["configured"] = new() };
        for (int r = 0; r < rounds; r++)
        {
            // alternate the order so that a drift in machine load does not favour one setting
            foreach (string mode in r % 2 == 0 ? new[] { "default", "configured" } : new[] { "configured", "default" })
            {
                if (RunChild(mode, steps, threads) is not { } m)
                {
                    Console.WriteLine("  (could not start this program again as a child process: no allocator comparison)");
                    return;
                }

                results[mode].Add(m);
            }
        }

        var before = (MedianOf(results["default"].Select(v => v.Ms)), MedianOf(results["default"].Select(v => v.Faults)));
        var after = (MedianOf(results["configured"].Select(v => v.Ms)), MedianOf(results["configured"].Select(v => v.Faults)));
        Console.WriteLine($"  (median of {rounds} child processes each, {steps} steps after 5 warm-up steps, run alternately)");
        Console.WriteLine($"  {"",28} {"ms/step",9} {"minor page faults/step",24}");
        Console.WriteLine($"  {"glibc defaults",28} {before.Item1,9:F2} {before.Item2,24:F0}");
        Console.WriteLine($"  {"ConfigureAllocator()",28} {after.Item1,9:F2} {after.Item2,24:F0}");
        Console.WriteLine(FormattableString.Invariant($"  change: {((after.Item1 / before.Item1) - 1) * 100:+0.0;-0.0}% time, {after.Item2 - before.Item2:+0;-0} page faults/step"));
    }

    private static (double Ms, double Faults)? RunChild(string mode, int steps, int threads)
    {
        string? exe = Environment.ProcessPath;
        if (exe is null)
        {
            return null;
        }

        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
        {
            psi.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
        }

        foreach (string a in new[] { "bench", "engine", "--allocator-child", mode, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            _ = stderr.Result;
            double ms = Field(output, "alloc_ms_per_step="), faults = Field(output, "faults_per_step=");
            return p.ExitCode == 0 && !double.IsNaN(ms) ? (ms, faults) : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Minor page faults of this process so far (field 10 of /proc/self/stat); 0 where unavailable.</summary>
    private static long MinorFaults()
    {
        if (!File.Exists("/proc/self/stat"))
        {
            return 0;
        }

        string stat = File.ReadAllText("/proc/self/stat");
        // the command name (field 2) is in parentheses and may contain spaces
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }

    private static double Field(string output, string key)
    {
        int i = output.IndexOf(key, StringComparison.Ordinal);
        if (i < 0)
        {
            return double.NaN;
        }

        int start = i + key.Length, end = start;
        while (end < output.Length && !char.IsWhiteSpace(output[end]))
        {
            end++;
        }

        return double.Parse(output.AsSpan(start, end - start), CultureInfo.InvariantCulture);
    }

    private static double MedianMs(int rounds, Action action)
    {
        action();
        var times = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }

        return MedianOf(times);
    }

    private static string? RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Wsss.MLNet.sln")))
            {
                string path = Path.Combine(dir.FullName, relative);
                return File.Exists(path) ? path : null;
            }
        }

        return null;
    }

    private static double MedianOf(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
    }

    private static int IntOption(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
    }
}
