using System.Runtime.InteropServices;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Engine;

namespace Wsss.Tests.Engine;

/// <summary>The process-wide engine settings Wsss manages. Runs alone: they are process-wide.</summary>
[TestClass]
[DoNotParallelize]
public sealed class TorchEngineTests
{
    [TestMethod]
    public void Threads_SetAndGet_ReachLibtorch()
    {
        int before = TorchEngine.Threads;
        try
        {
            foreach (int n in new[] { 1, 2, 1 })
            {
                TorchEngine.Threads = n;
                Assert.AreEqual(n, TorchEngine.Threads);
                Assert.AreEqual(n, torch.get_num_threads(), "the setting is libtorch's own");
            }

            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TorchEngine.Threads = 0);
            Assert.AreEqual(1, TorchEngine.Threads, "a refused value changes nothing");
        }
        finally
        {
            TorchEngine.Threads = before;
        }
    }

    [TestMethod]
    public void ConfigureAllocator_RunsWithDefaultsAndExplicitValues()
    {
        // The defaults are what the trainers apply; -1 leaves a setting alone. (glibc's refusal path is not exercised:
        // which values mallopt refuses differs between glibc versions; this one accepts even a 1 GiB mmap threshold.)
        TorchEngine.ConfigureAllocator(-1, -1, -1);
        TorchEngine.ConfigureAllocator(mmapThreshold: 16L << 20, trimThreshold: -1, topPad: -1);
        TorchEngine.ConfigureAllocator();
        TorchEngine.ConfigureAllocatorUnlessConfigured();
        using var scope = torch.NewDisposeScope();
        // a 64 MiB tensor (above the mmap threshold) and many small ones still allocate and free
        Assert.AreEqual(16L << 20, torch.ones(16L << 20).sum().ToDouble());
        Assert.AreEqual(1000.0, Enumerable.Range(0, 1000).Sum(_ => torch.ones(10).mean().ToDouble()));
    }

    [TestMethod]
    public void EnsureLoaded_SetsPassiveOpenMpWaitingForLibgomp()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("the OpenMP setting is made with libc's setenv on Linux only");
        }

        TorchEngine.EnsureLoaded();
        // .NET keeps its own copy of the environment; libgomp reads libc's, which is where Wsss writes.
        string? inherited = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY");
        string? seen = Marshal.PtrToStringAnsi(getenv("OMP_WAIT_POLICY"));
        Assert.AreEqual(inherited ?? "PASSIVE", seen, "a value set by the user wins; otherwise PASSIVE");
    }

    [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern IntPtr getenv(string name);
}
