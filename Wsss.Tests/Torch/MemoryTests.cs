using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using Wsss.Torch.Nn;
using Wsss.Torch.Optim;
using static Wsss.Torch.Torch;
using F = Wsss.Torch.Functional;

namespace Wsss.Tests.Torch;

/// <summary>
/// Resident memory stays flat over many tensor lifetimes and training steps. Runs alone: the measure is
/// process-wide. Growth is taken between the end of a warm-up (allocator pools, JIT, libtorch caches
/// filled) and the end of the run, after a full GC on both sides.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class MemoryTests
{
    // A leak of one 4 KB tensor per cycle over 10,000 cycles would be ~40 MB, of one 1000-float tensor per
    // training step over 500 steps ~2 MB plus the step's activations (~50 KB each, ~25 MB): 20 MB separates
    // these from allocator noise (glibc arenas, GC heap growth), which stays in the low megabytes.
    private const double AllowedGrowthMb = 20;

    public TestContext TestContext { get; set; } = null!;

    private static double ResidentMb()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        throw new InvalidOperationException("no VmRSS in /proc/self/status");
    }

    private static void SkipUnlessLinux()
    {
        if (!File.Exists("/proc/self/status"))
        {
            Assert.Inconclusive("resident memory is read from /proc/self/status, which this OS lacks");
        }
    }

    [TestMethod]
    public void CreateAndFreeCyclesKeepResidentMemoryFlat()
    {
        SkipUnlessLinux();
        static void Cycles(int n)
        {
            for (int i = 0; i < n; i++)
            {
                using var a = Full([32, 32], i);
                using var twice = a * 2;
                using var b = twice + 1;
                using var s = b.Sum();
                if (i % 1000 == 0)
                {
                    Assert.AreEqual(1024.0 * (2.0 * i + 1), s.Item());
                }
            }
        }

        Cycles(2_000);
        double start = ResidentMb();
        Cycles(10_000);
        double end = ResidentMb();
        TestContext.WriteLine($"10,000 create/free cycles: VmRSS {start:F1} MB after warm-up -> {end:F1} MB (growth {end - start:F1} MB, allowed {AllowedGrowthMb} MB)");
        Assert.IsLessThan(AllowedGrowthMb, end - start, $"resident memory grew by {end - start:F1} MB");
    }

    [TestMethod]
    public void TrainingStepsInDisposeScopesKeepResidentMemoryFlat()
    {
        SkipUnlessLinux();
        ManualSeed(5);
        using var net = new Sequential(
            new Conv2d(3, 8, 3, padding: 1), new BatchNorm2d(8), new Lambda(F.Relu),
            new Conv2d(8, 8, 3, stride: 2, padding: 1), new Lambda(F.Relu),
            new Conv2d(8, 4, 1));
        using var opt = new Sgd([new ParameterGroup("all", net.Parameters())], 0.01, momentum: 0.9);
        using var x = Randn([2, 3, 16, 16]);
        using var target = Zeros([2, 8, 8], DType.Int64);
        double firstLoss = double.NaN, lastLoss = double.NaN;

        void Steps(int n)
        {
            for (int i = 0; i < n; i++)
            {
                using var scope = NewDisposeScope();
                opt.ZeroGrad();
                var loss = F.CrossEntropy(net.Forward(x), target);
                loss.Backward();
                opt.Step();
                lastLoss = loss.Item();
                if (double.IsNaN(firstLoss)) firstLoss = lastLoss;
            }
        }

        Steps(50);
        double start = ResidentMb();
        Steps(500);
        double end = ResidentMb();
        TestContext.WriteLine($"500 training steps: VmRSS {start:F1} MB after warm-up -> {end:F1} MB (growth {end - start:F1} MB, allowed {AllowedGrowthMb} MB); loss {firstLoss:F4} -> {lastLoss:F4}");
        Assert.IsLessThan(firstLoss, lastLoss, "the steps trained (the loop did real work)");
        Assert.IsLessThan(AllowedGrowthMb, end - start, $"resident memory grew by {end - start:F1} MB");
    }
}
