using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Compat;
using Wsss.Engine;

namespace Wsss.Tests.Engine;

/// <summary>
/// TorchSharp's native backend loads in this test process, from the test output's own copy of
/// libLibTorchSharp.so, which the repository's build step (nuget/Wsss/buildTransitive/Wsss.targets) patched only
/// where this machine's libstdc++ needs it, leaving the NuGet cache's copy alone.
/// </summary>
[TestClass]
public sealed class TorchSharpLoadTests
{
    private const string Glibcxx3432 = "GLIBCXX_3.4.32";

    [TestMethod]
    public void TorchSharpLoads_WithLibtorch210()
    {
        TorchEngine.EnsureLoaded();
        StringAssert.StartsWith(torch.__version__, "2.10", "TorchSharp 0.107 runs libtorch 2.10");
        using var scope = torch.NewDisposeScope();
        Assert.AreEqual(6.0, (torch.ones(3) * 2).sum().ToDouble());
        TorchEngine.EnsureLoaded(); // idempotent
    }

    [TestMethod]
    public void AppCopyOfLibTorchSharp_IsPatchedOnlyWhereNeeded_AndTheNuGetCacheIsUntouched()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("the libstdc++ patch concerns Linux only");
        }

        TorchEngine.EnsureLoaded();
        string? app = LibTorchSharpCheck.FindLibTorchSharp();
        Assert.IsNotNull(app, "no libLibTorchSharp.so in the runtime's native search folders");
        app = Path.GetFullPath(app);
        StringAssert.StartsWith(app, Path.GetFullPath(AppContext.BaseDirectory), "the check finds the test output's own copy");
        // The one the loader mapped is that copy, so the patched file is what runs.
        var mapped = File.ReadLines("/proc/self/maps").Where(l => l.EndsWith("/" + LibStdCxxCompat.LibTorchSharpFileName, StringComparison.Ordinal))
            .Select(l => l[l.IndexOf('/', StringComparison.Ordinal)..]).Distinct().ToArray();
        CollectionAssert.AreEqual(new[] { app }, mapped, "mapped copies of libLibTorchSharp.so");

        string cache = NuGetCacheCopy();
        string? libstdcxx = LibStdCxxCompat.FindLoadedLibStdCxx();
        Assert.IsNotNull(libstdcxx, "the .NET host links libstdc++, so this process has one");
        bool systemHasIt = ElfFile.Read(libstdcxx).DefinedVersions().Contains(Glibcxx3432);

        var appNeed = ElfFile.Read(app).VersionNeeds().Single(n => n.Version == Glibcxx3432);
        var cacheNeed = ElfFile.Read(cache).VersionNeeds().Single(n => n.Version == Glibcxx3432);
        Assert.IsFalse(cacheNeed.IsWeak, $"the NuGet cache's copy ({cache}) must never be modified");
        Assert.AreEqual(!systemHasIt, appNeed.IsWeak,
            $"{libstdcxx} {(systemHasIt ? "defines" : "lacks")} {Glibcxx3432}: the app's copy should {(systemHasIt ? "stay as it is" : "have it weak")}");

        byte[] appBytes = File.ReadAllBytes(app), cacheBytes = File.ReadAllBytes(cache);
        Assert.AreEqual(cacheBytes.Length, appBytes.Length);
        int[] changed = Enumerable.Range(0, appBytes.Length).Where(i => appBytes[i] != cacheBytes[i]).ToArray();
        CollectionAssert.AreEqual(systemHasIt ? Array.Empty<int>() : new[] { (int)appNeed.FlagsOffset }, changed, "bytes that differ from the package's file");
    }

    [TestMethod]
    public void TorchSharpsOnlyUnboundLibStdCxxVersion_IsGlibcxx3432()
    {
        // The premise of the patch (see LibStdCxxCompat.cs): of everything libLibTorchSharp.so needs from libstdc++,
        // only GLIBCXX_3.4.32 binds no relocation, so weakening it can never leave a missing function. A TorchSharp
        // update that relocates a GCC 13 symbol makes this fail, and the patch then stops applying by design.
        string cache = NuGetCacheCopy();
        var report = LibStdCxxCompat.Analyse(ElfFile.Read(cache), null);
        Assert.AreEqual(CompatVerdict.Patchable, report.Verdict);
        Assert.AreEqual(Glibcxx3432, report.MissingNames);

        if (LibStdCxxCompat.FindLoadedLibStdCxx() is { } libstdcxx)
        {
            var here = LibStdCxxCompat.Analyse(ElfFile.Read(cache), ElfFile.Read(libstdcxx).DefinedVersions());
            Assert.AreNotEqual(CompatVerdict.NotPatchable, here.Verdict, string.Join(", ", here.BlockingSymbols));
        }
    }

    /// <summary>The package cache's libLibTorchSharp.so (NUGET_PACKAGES or ~/.nuget/packages), or the test is skipped.</summary>
    private static string NuGetCacheCopy()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("libLibTorchSharp.so is the Linux build of TorchSharp's native library");
        }

        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        Version v = typeof(torch).Assembly.GetName().Version!;
        string path = Path.Combine(root, "torchsharp", $"{v.Major}.{v.Minor}.{v.Build}", "runtimes", "linux-x64", "native", LibStdCxxCompat.LibTorchSharpFileName);
        if (!File.Exists(path))
        {
            Assert.Inconclusive($"TorchSharp's package is not in the NuGet cache at {path} (restored elsewhere?)");
        }

        return path;
    }
}
