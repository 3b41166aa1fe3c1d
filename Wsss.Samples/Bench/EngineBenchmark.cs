using System.Diagnostics;
using System.Globalization;
using Wsss.Torch;
using Wsss.Torch.Nn;
using Wsss.Torch.Optim;
using F = Wsss.Torch.Functional;
using TorchApi = Wsss.Torch.Torch;

namespace Wsss.Samples.Bench;

/// <summary>
/// `bench engine`: the cost of the binding itself. (1) Per-op overhead of a tiny op (1-element add) with and
/// without a dispose scope, next to an almost empty native call and to the same add timed in C++;
/// (2) conv2d throughput (batch 8, 64->64, 3x3, pad 1, 56x56) at 1 and 2 threads against the C++ program
/// native/build/wsss_conv_bench; (3) ms/step of a small training loop with glibc's defaults and after
/// <see cref="TorchApi.ConfigureAllocator"/>, in separate child processes run alternately. Every figure is a median over repeated rounds, because the
/// machine may be shared. Options: --rounds N (default 5), --conv-iterations N (default 15), --steps N (default 30),
/// --skip-conv (1 thread only), --skip-allocator.
/// </summary>
internal static class EngineBenchmark
{
    private const int OpsPerRound = 20_000;
    private const double ConvFlops = 2.0 * 8 * 64 * 56 * 56 * 64 * 9;

    public static int Run(string[] args)
    {
        int rounds = IntOption(args, "--rounds", 5);
        int convIterations = IntOption(args, "--conv-iterations", 15);
        int steps = IntOption(args, "--steps", 30);
        int child = Array.IndexOf(args, "--allocator-child");
        if (child >= 0 && child + 1 < args.Length)
        {
            return AllocatorChild(args[child + 1], steps);
        }

        int originalThreads = TorchApi.Threads;
        Console.WriteLine($"bench engine: {Environment.ProcessorCount} logical cores, libtorch threads at start {originalThreads}, rounds {rounds}");
#if DEBUG
        Console.WriteLine("warning: Debug build: the per-op figures include unoptimised managed code; run the Release build (dotnet run -c Release).");
#endif

        string? cppBench = FindCppBench();
        if (cppBench is null)
        {
            Console.WriteLine("(C++ figures missing: build them with `cmake --build native/build --target wsss_conv_bench`)");
        }

        bool skipConv = args.Contains("--skip-conv");
        // C# and C++ rounds alternate so that load from other processes hits both alike
        var conv = new Dictionary<int, (List<double> Cs, List<double> Cpp)>();
        var cppAdd = new List<double>();
        using var perOp = new PerOpBench();
        // Both sides run with the same glibc settings (the C++ program gets "tuned"): otherwise the comparison
        // measures page faults of the 6.4 MB output buffer, not the binding (see docs/PERFORMANCE.md).
        TorchApi.ConfigureAllocator();
        foreach (int threads in skipConv ? [1] : new[] { 1, 2 })
        {
            TorchApi.Threads = threads;
            var cs = new List<double>();
            var cpp = new List<double>();
            using var convBench = new ConvBench();
            for (int r = 0; r < rounds; r++)
            {
                cs.Add(convBench.RoundMs(convIterations));
                if (cppBench is not null && RunCpp(cppBench, threads, convIterations) is { } c)
                {
                    cpp.Add(c.ConvMs);
                    if (threads == 1)
                    {
                        cppAdd.Add(c.AddNs);
                    }
                }

                if (threads == 1)
                {
                    perOp.Round();
                }
            }

            conv[threads] = (cs, cpp);
        }

        perOp.Print(rounds, cppAdd.Count > 0 ? MedianOf(cppAdd) : null);
        Console.WriteLine();
        Console.WriteLine($"conv2d 8x64x56x56, 64->64, 3x3, padding 1 (forward, no grad; median of {rounds} rounds x {convIterations} calls)");
        Console.WriteLine($"  {"threads",7} {"C# ms",9} {"C# GFLOP/s",11} {"C++ ms",9} {"C++ GFLOP/s",12} {"C#/C++ time",12}");
        foreach (var (threads, (cs, cpp)) in conv)
        {
            double csMs = MedianOf(cs);
            string cppMs = "n/a", cppGf = "n/a", ratio = "n/a";
            if (cpp.Count > 0)
            {
                double c = MedianOf(cpp);
                cppMs = c.ToString("F2", CultureInfo.InvariantCulture);
                cppGf = (ConvFlops / (c * 1e6)).ToString("F1", CultureInfo.InvariantCulture);
                ratio = (csMs / c).ToString("F3", CultureInfo.InvariantCulture);
            }

            Console.WriteLine($"  {threads,7} {csMs,9:F2} {ConvFlops / (csMs * 1e6),11:F1} {cppMs,9} {cppGf,12} {ratio,12}");
        }

        Console.WriteLine();
        if (!args.Contains("--skip-allocator"))
        {
            AllocatorEffect(steps, rounds);
        }

        TorchApi.Threads = originalThreads;
        return 0;
    }

    /// <summary>
    /// The per-op measurements, one round at a time so that they can alternate with the C++ program's runs
    /// (the machine's load changes from minute to minute; alternating exposes both sides to the same load).
    /// </summary>
    private sealed class PerOpBench : IDisposable
    {
        private readonly Tensor a = TorchApi.Ones([1]);
        private readonly Tensor b = TorchApi.Ones([1]);
        private readonly List<double>[] results = [new(), new(), new(), new()];

        public PerOpBench() => Round(record: false);   // warm-up: JIT, allocator

        public void Round(bool record = true)
        {
            using var noGrad = TorchApi.NoGrad();   // as in the C++ program
            double[] r = [EmptyCall(), Raw(), Disposed(), Scoped()];
            if (record)
            {
                for (int i = 0; i < r.Length; i++) results[i].Add(r[i]);
            }
        }

        public void Print(int rounds, double? cppAddNs)
        {
            double emptyCall = MedianOf(results[0]), raw = MedianOf(results[1]), disposed = MedianOf(results[2]), scoped = MedianOf(results[3]);
            Console.WriteLine($"per-op cost, 1-element add (median of {rounds} rounds x {OpsPerRound} ops, no grad, 1 thread)");
            Console.WriteLine($"  Torch.IsGradEnabled (near-empty native call)    {emptyCall,8:F0} ns/call");
            Console.WriteLine($"  a + b, raw P/Invoke + free (no Tensor object)   {raw,8:F0} ns/op");
            Console.WriteLine($"  a + b, result disposed with using               {disposed,8:F0} ns/op");
            Console.WriteLine($"  a + b, collected by a dispose scope (100/scope) {scoped,8:F0} ns/op");
            if (cppAddNs is { } cpp)
            {
                Console.WriteLine($"  a + b in C++ on libtorch (wsss_conv_bench)      {cpp,8:F0} ns/op");
                Console.WriteLine($"  binding overhead (C# - C++): using {disposed - cpp:F0} ns/op, scope {scoped - cpp:F0} ns/op (target < 2000)");
            }

            Console.WriteLine($"  managed wrapper over raw P/Invoke (Tensor + SafeHandle): using {disposed - raw:F0} ns/op, scope {scoped - raw:F0} ns/op");
        }

        public void Dispose()
        {
            a.Dispose();
            b.Dispose();
        }

        private static double EmptyCall()
        {
            bool any = false;
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < OpsPerRound; i++)
            {
                any ^= TorchApi.IsGradEnabled;
            }

            GC.KeepAlive(any);
            return NsPerOp(t0);
        }

        // the same add through the raw P/Invoke, no Tensor object: splits the overhead into the C ABI
        // part (handles, guard, status) and the managed wrapper part (Tensor + SafeHandle + scope check)
        private double Raw()
        {
            var ha = a.Handle;
            var hb = b.Handle;
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < OpsPerRound; i++)
            {
                Wsss.Interop.NativeMethods.Check(Wsss.Interop.NativeMethods.wsss_binary(0, ha, hb, out nint r));
                Wsss.Interop.NativeMethods.Check(Wsss.Interop.NativeMethods.wsss_tensor_free(r));
            }

            return NsPerOp(t0);
        }

        private double Disposed()
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < OpsPerRound; i++)
            {
                using var c = a + b;
            }

            return NsPerOp(t0);
        }

        // one scope per 100 ops, like a training step that creates many temporaries
        private double Scoped()
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < OpsPerRound / 100; i++)
            {
                using var scope = TorchApi.NewDisposeScope();
                for (int k = 0; k < 100; k++)
                {
                    _ = a + b;
                }
            }

            return NsPerOp(t0);
        }
    }

    private static double NsPerOp(long startTimestamp) =>
        Stopwatch.GetElapsedTime(startTimestamp).TotalNanoseconds / OpsPerRound;

    /// <summary>The conv2d of the C++ program, inputs made once; one round = median of its calls.</summary>
    private sealed class ConvBench : IDisposable
    {
        private readonly Tensor x, w, b;

        public ConvBench()
        {
            TorchApi.ManualSeed(0);
            x = TorchApi.Randn([8, 64, 56, 56]);
            w = TorchApi.Randn([64, 64, 3, 3]);
            b = TorchApi.Randn([64]);
            using var noGrad = TorchApi.NoGrad();
            for (int i = 0; i < 3; i++)
            {
                using var y = F.Conv2d(x, w, b, 1, 1);
            }
        }

        public double RoundMs(int iterations)
        {
            using var noGrad = TorchApi.NoGrad();
            var ms = new double[iterations];
            for (int i = 0; i < iterations; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                using var y = F.Conv2d(x, w, b, 1, 1);
                ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }

            Array.Sort(ms);
            return ms[ms.Length / 2];
        }

        public void Dispose()
        {
            x.Dispose();
            w.Dispose();
            b.Dispose();
        }
    }

    /// <summary>
    /// Child-process mode (`bench engine --allocator-child default|configured`): one measurement of the
    /// training loop, printed as "alloc_ms_per_step=... faults_per_step=...". A fresh process per
    /// measurement keeps the heap state of one setting from leaking into the other.
    /// </summary>
    private static int AllocatorChild(string mode, int steps)
    {
        TorchApi.Threads = Math.Min(2, Environment.ProcessorCount);
        if (mode == "configured")
        {
            TorchApi.ConfigureAllocator();
        }

        var (ms, faults) = TrainingLoop(steps);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"alloc_ms_per_step={ms:F3} faults_per_step={faults:F1}"));
        return 0;
    }

    private static (double Ms, double Faults) TrainingLoop(int steps)
    {
        TorchApi.ManualSeed(1);
        using var net = new Sequential(
            new Conv2d(3, 32, 3, padding: 1), new Lambda(F.Relu),
            new Conv2d(32, 64, 3, stride: 2, padding: 1), new Lambda(F.Relu),
            new Conv2d(64, 21, 1));
        using var opt = new Sgd([new ParameterGroup("all", net.Parameters())], 1e-3, momentum: 0.9);
        using var x = TorchApi.Randn([4, 3, 96, 96]);
        using var target = TorchApi.Zeros([4, 48, 48], DType.Int64);
        Step(net, opt, x, target, 5);
        long f0 = MinorFaults();
        long t0 = Stopwatch.GetTimestamp();
        Step(net, opt, x, target, steps);
        return (Stopwatch.GetElapsedTime(t0).TotalMilliseconds / steps, (MinorFaults() - f0) / (double)steps);
    }

    private static void AllocatorEffect(int steps, int rounds)
    {
        int threads = Math.Min(2, Environment.ProcessorCount);
        Console.WriteLine($"training step, 3-layer conv net (3->32->64->21), batch 4, 3x96x96, forward + backward + SGD, {threads} threads");
        var results = new Dictionary<string, List<(double Ms, double Faults)>> { ["default"] = new(), ["configured"] = new() };
        bool children = true;
        for (int r = 0; r < rounds && children; r++)
        {
            // alternate the order so that a drift in machine load does not favour one setting
            foreach (string mode in r % 2 == 0 ? new[] { "default", "configured" } : new[] { "configured", "default" })
            {
                var m = RunChild(mode, steps);
                if (m is null)
                {
                    children = false;
                    break;
                }

                results[mode].Add(m.Value);
            }
        }

        string how = $"median of {rounds} child processes each, {steps} steps after 5 warm-up steps, run alternately";
        if (!children)
        {
            // no way to start this program again (e.g. a host that routes arguments differently): measure in
            // process, defaults first since ConfigureAllocator cannot be undone
            results["default"].Clear();
            results["configured"].Clear();
            TorchApi.Threads = threads;
            for (int r = 0; r < rounds; r++) results["default"].Add(TrainingLoop(steps));
            TorchApi.ConfigureAllocator();
            for (int r = 0; r < rounds; r++) results["configured"].Add(TrainingLoop(steps));
            how = $"in this process, defaults measured first; median of {rounds} x {steps} steps";
        }

        var before = (MedianOf(results["default"].Select(v => v.Ms)), MedianOf(results["default"].Select(v => v.Faults)));
        var after = (MedianOf(results["configured"].Select(v => v.Ms)), MedianOf(results["configured"].Select(v => v.Faults)));
        Console.WriteLine($"  ({how})");
        Console.WriteLine($"  {"",28} {"ms/step",9} {"minor page faults/step",24}");
        Console.WriteLine($"  {"glibc defaults",28} {before.Item1,9:F2} {before.Item2,24:F0}");
        Console.WriteLine($"  {"ConfigureAllocator()",28} {after.Item1,9:F2} {after.Item2,24:F0}");
        Console.WriteLine($"  change: {(after.Item1 / before.Item1 - 1) * 100:+0.0;-0.0}% time, {after.Item2 - before.Item2:+0;-0} page faults/step");
        Console.WriteLine($"  all rounds, default ms:    {string.Join(" ", results["default"].Select(v => v.Ms.ToString("F1", CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"  all rounds, configured ms: {string.Join(" ", results["configured"].Select(v => v.Ms.ToString("F1", CultureInfo.InvariantCulture)))}");
    }

    private static (double Ms, double Faults)? RunChild(string mode, int steps)
    {
        string? exe = Environment.ProcessPath;
        if (exe is null)
        {
            return null;
        }

        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
        {
            // started as `dotnet Wsss.Samples.dll`
            psi.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
        }

        foreach (string a in new[] { "bench", "engine", "--allocator-child", mode, "--steps", steps.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        try
        {
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            double ms = Field(output, "alloc_ms_per_step="), faults = Field(output, "faults_per_step=");
            return p.ExitCode == 0 && !double.IsNaN(ms) ? (ms, faults) : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static void Step(Sequential net, Sgd opt, Tensor x, Tensor target, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using var scope = TorchApi.NewDisposeScope();
            opt.ZeroGrad();
            F.CrossEntropy(net.Forward(x), target).Backward();
            opt.Step();
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

    private sealed record CppResult(double ConvMs, double AddNs);

    private static CppResult? RunCpp(string path, int threads, int iterations)
    {
        var psi = new ProcessStartInfo(path, [threads.ToString(CultureInfo.InvariantCulture), iterations.ToString(CultureInfo.InvariantCulture), "tuned"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // same OpenMP setting as the .NET process (NativeLibraryLoader sets PASSIVE unless the user chose)
        psi.Environment["OMP_WAIT_POLICY"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "PASSIVE";
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            Console.WriteLine($"  {path} exited with {p.ExitCode}");
            return null;
        }

        return new CppResult(Field(output, "median_ms="), Field(output, "add_median_ns="));
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

    private static string? FindCppBench()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Wsss.MLNet.sln")))
            {
                string path = Path.Combine(dir.FullName, "native", "build", "wsss_conv_bench");
                return File.Exists(path) ? path : null;
            }
        }

        return null;
    }

    private static double MedianOf(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static int IntOption(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
    }
}
