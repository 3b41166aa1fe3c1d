using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Wsss.Tests.Packaging;

/// <summary>
/// Packs Wsss into a local feed and consumes it from a fresh console project, the way a user would: the app
/// references Wsss and, as TorchSharp asks, its own backend (TorchSharp-cpu). Catches packaging mistakes that the
/// in-repo project references never exercise: the TorchSharp dependency, the buildTransitive old-libstdc++ step
/// (compiled from the package's own copy of LibStdCxxCompat.cs and run on the app's output), README and license
/// metadata. Slow (about a minute): one pack, one restore+build. TorchSharp and libtorch come from this machine's
/// NuGet cache as a read-only fallback folder, so nothing large is downloaded and the test can check that the
/// cache's files are left alone.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class PackageConsumptionTests
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromMinutes(5);

    private static TempDirectory? work;
    private static string? packagePath;
    private static string? symbolsPath;
    private static string? consumerOutput;
    private static ProcessResult? consumerRun;
    private static string? setupFailure;
    private static string consumerBuildOutput = "";

    /// <summary>Packs, builds the consumer and runs it once; the tests inspect the results.</summary>
    [ClassInitialize]
    public static void Setup(TestContext context)
    {
        _ = context;
        if (!OperatingSystem.IsLinux())
        {
            setupFailure = "inconclusive: the consumer's checks (loader maps, the libstdc++ step) are Linux-specific";
            return;
        }

        if (!Directory.Exists(Path.Combine(UserPackageCache(), "torchsharp-cpu")))
        {
            setupFailure = $"inconclusive: TorchSharp-cpu is not in the NuGet cache ({UserPackageCache()}): restore the solution first";
            return;
        }

        work = TestData.NewTempDirectory();
        string feed = Path.Combine(work.Path, "feed");
        string configuration = BuildConfiguration();
        // A version never used before, so that a package cached by an earlier run is never picked up.
        string version = $"0.0.0-pkgtest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

        // --no-build packs exactly the assembly that this test run was built with.
        ProcessResult pack = Dotnet(TestData.RepoRoot,
            "pack", Path.Combine(TestData.RepoRoot, "Wsss", "Wsss.csproj"), "-c", configuration, "--no-build",
            "-nologo", "-o", feed, $"-p:PackageVersion={version}");
        if (pack.ExitCode != 0)
        {
            setupFailure = "dotnet pack failed:\n" + pack.Output;
            return;
        }

        packagePath = Path.Combine(feed, $"Wsss.{version}.nupkg");
        symbolsPath = Path.Combine(feed, $"Wsss.{version}.snupkg");

        string app = Path.Combine(work.Path, "consumer");
        Directory.CreateDirectory(app);
        WriteConsumer(app, feed, version);
        ProcessResult build = Dotnet(app, "build", "-c", "Release", "-nologo", "-v", "n", "-o", Path.Combine(app, "out"));
        consumerBuildOutput = build.Output;
        if (build.ExitCode != 0)
        {
            setupFailure = "the consumer project did not restore/build against the local feed:\n" + build.Output;
            return;
        }

        consumerOutput = Path.Combine(app, "out");
        consumerRun = Run(consumerOutput, "dotnet", [Path.Combine(consumerOutput, "Consumer.dll")]);
    }

    /// <summary>Deletes the feed, the consumer project and its private package cache.</summary>
    [ClassCleanup]
    public static void Cleanup() => work?.Dispose();

    [TestMethod]
    public void Package_HasTheLibraryTheBuildStepDocsSymbolsAndMetadata_AndNoBackend()
    {
        RequireSetup();
        Assert.IsTrue(File.Exists(packagePath), $"no package at {packagePath}");
        using (ZipArchive zip = ZipFile.OpenRead(packagePath!))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
            foreach (string expected in new[]
                     {
                         "lib/net10.0/Wsss.dll", "lib/net10.0/Wsss.xml", "PACKAGE.md",
                         "buildTransitive/Wsss.targets", "buildTransitive/LibStdCxxCompat.cs",
                     })
            {
                Assert.Contains(expected, entries, $"package entries: {string.Join(", ", entries)}");
            }

            // The build step compiles the package's copy of the compatibility code: it must be the repository's.
            using (var reader = new StreamReader(zip.GetEntry("buildTransitive/LibStdCxxCompat.cs")!.Open()))
            {
                Assert.AreEqual(File.ReadAllText(Path.Combine(TestData.RepoRoot, "Wsss", "Compat", "LibStdCxxCompat.cs")), reader.ReadToEnd());
            }

            // libtorch is the application's choice (a TorchSharp backend package), never bundled.
            var bundled = entries.Where(e => e.Contains("libtorch", StringComparison.OrdinalIgnoreCase) || e.Contains("LibTorchSharp", StringComparison.Ordinal)
                || e.EndsWith("c10.so", StringComparison.Ordinal) || (e.StartsWith("runtimes/", StringComparison.Ordinal) && e.EndsWith(".dll", StringComparison.Ordinal))).ToArray();
            Assert.IsEmpty(bundled, string.Join(", ", bundled));

            ZipArchiveEntry nuspecEntry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
            using Stream s = nuspecEntry.Open();
            XElement metadata = XDocument.Load(s).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string? Meta(string name) => metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
            XElement license = metadata.Elements().Single(e => e.Name.LocalName == "license");
            Assert.AreEqual("expression", license.Attribute("type")?.Value);
            Assert.AreEqual("MIT", license.Value);
            Assert.AreEqual("PACKAGE.md", Meta("readme"));
            Assert.IsNull(Meta("icon"), "the package must not declare an icon");
            XElement repository = metadata.Elements().Single(e => e.Name.LocalName == "repository");
            Assert.AreEqual("git", repository.Attribute("type")?.Value);
            StringAssert.StartsWith(repository.Attribute("url")?.Value, "https://");
            Assert.IsFalse(string.IsNullOrWhiteSpace(Meta("description")));
            var dependencies = metadata.Descendants().Where(e => e.Name.LocalName == "dependency")
                .Select(e => (Id: e.Attribute("id")?.Value, Version: e.Attribute("version")?.Value)).ToArray();
            CollectionAssert.Contains(dependencies, ("TorchSharp", "0.107.0"), "the managed TorchSharp package, exactly the version built against");
            Assert.IsFalse(dependencies.Any(d => d.Id!.StartsWith("TorchSharp-", StringComparison.OrdinalIgnoreCase) || d.Id.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase)),
                "the backend is the application's choice: " + string.Join(", ", dependencies));
            // Images go through SkiaSharp: the pinned version and the Linux native assets that need no system library.
            CollectionAssert.Contains(dependencies, ("SkiaSharp", "2.88.9"), string.Join(", ", dependencies));
            CollectionAssert.Contains(dependencies, ("SkiaSharp.NativeAssets.Linux.NoDependencies", "2.88.9"), string.Join(", ", dependencies));
        }

        Assert.IsTrue(File.Exists(symbolsPath), $"no symbol package at {symbolsPath}");
        using ZipArchive symbols = ZipFile.OpenRead(symbolsPath!);
        Assert.IsTrue(symbols.Entries.Any(e => e.FullName == "lib/net10.0/Wsss.pdb"), "the .snupkg has no Wsss.pdb");
    }

    [TestMethod]
    public void Consumer_TrainsAndPredicts_WithTorchSharpFromItsOwnOutput()
    {
        RequireSetup();
        Assert.IsTrue(File.Exists(Path.Combine(consumerOutput!, "runtimes", "linux-x64", "native", "libSkiaSharp.so")), "SkiaSharp's native library did not reach the consumer's output");
        Assert.AreEqual(0, consumerRun!.ExitCode, "consumer program failed:\n" + consumerRun.Output);
        StringAssert.Contains(consumerRun.Output, "libtorch: 2.10");
        StringAssert.Contains(consumerRun.Output, "tensor ops: ok");
        StringAssert.Contains(consumerRun.Output, "png round trip: ok");
        StringAssert.Contains(consumerRun.Output, "train and predict: ok");
        // The program reports which libLibTorchSharp.so the loader mapped: the app's own copy, not the NuGet cache's.
        string copied = Path.GetFullPath(Path.Combine(consumerOutput!, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"));
        Assert.IsTrue(File.Exists(copied), $"the backend's native libraries are not in the consumer's output ({copied})");
        string loaded = consumerRun.Output.Split('\n').Single(l => l.StartsWith("native: ", StringComparison.Ordinal))["native: ".Length..].Trim();
        Assert.AreEqual(copied, loaded);
    }

    [TestMethod]
    public void Consumer_BuildStepPatchesItsCopyOnlyWhereNeeded_AndLeavesTheNuGetCacheAlone()
    {
        RequireSetup();
        const string version = "GLIBCXX_3.4.32";
        string copied = Path.Combine(consumerOutput!, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        string cached = Path.Combine(UserPackageCache(), "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.IsTrue(File.Exists(cached), cached);
        string? libstdcxx = Wsss.Compat.LibStdCxxCompat.FindLoadedLibStdCxx();
        Assert.IsNotNull(libstdcxx);
        bool systemHasIt = Wsss.Compat.ElfFile.Read(libstdcxx).DefinedVersions().Contains(version);
        bool Weak(string path) => Wsss.Compat.ElfFile.Read(path).VersionNeeds().Single(n => n.Version == version).IsWeak;
        Assert.IsFalse(Weak(cached), $"the NuGet cache's copy ({cached}) must never be modified");
        Assert.AreEqual(!systemHasIt, Weak(copied), $"{libstdcxx} {(systemHasIt ? "defines" : "lacks")} {version}");
        if (!systemHasIt)
        {
            StringAssert.Contains(consumerBuildOutput, $"marked {version} weak", "the build says what it did");
        }
    }

    [TestMethod]
    public void Consumer_WithoutTheBackendsNativeLibraries_FailsWithMessageNamingTheBackendPackages()
    {
        RequireSetup();
        // A copy of the consumer without libtorch (what an app that references Wsss but no TorchSharp backend gets:
        // TorchSharp's own libLibTorchSharp.so without the libtorch it links).
        string broken = Path.Combine(work!.Path, "broken");
        CopyDirectory(consumerOutput!, broken);
        string native = Path.Combine(broken, "runtimes", "linux-x64", "native");
        int removed = 0;
        foreach (string file in Directory.EnumerateFiles(native))
        {
            string name = Path.GetFileName(file);
            if (name.StartsWith("libtorch", StringComparison.Ordinal) || name.StartsWith("libc10", StringComparison.Ordinal))
            {
                File.Delete(file);
                removed++;
            }
        }

        Assert.IsTrue(removed > 0, $"no libtorch files found in {native}");
        ProcessResult run = Run(broken, "dotnet", [Path.Combine(broken, "Consumer.dll")]);

        Assert.AreNotEqual(0, run.ExitCode, "the program ran although libtorch is missing:\n" + run.Output);
        StringAssert.Contains(run.Output, "InvalidOperationException");
        StringAssert.Contains(run.Output, "must reference a TorchSharp backend package", "Wsss's own message (TorchEngine.EnsureLoaded), not only TorchSharp's");
        foreach (string package in new[] { "TorchSharp-cpu", "TorchSharp-cuda-linux", "TorchSharp-cuda-windows" })
        {
            StringAssert.Contains(run.Output, package, "the message should name the backend packages to reference");
        }
    }

    private static void RequireSetup()
    {
        if (setupFailure is { } failure)
        {
            if (failure.StartsWith("inconclusive: ", StringComparison.Ordinal))
            {
                Assert.Inconclusive(failure["inconclusive: ".Length..]);
            }

            Assert.Fail(failure);
        }
    }

    private static string BuildConfiguration()
    {
        // bin/<Configuration>/net10.0/ of the test assembly: pack the core built the same way.
        var dir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        return dir.Parent?.Name is { Length: > 0 } name && dir.Parent.Parent?.Name == "bin" ? name : "Release";
    }

    private static void WriteConsumer(string app, string feed, string version)
    {
        // The local feed serves Wsss only (source mapping), the default source anything else (SkiaSharp and its native
        // assets); this machine's NuGet cache is a fallback folder (read-only, used in place), so TorchSharp and libtorch
        // are not downloaded again.
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <fallbackPackageFolders>
                <add key="machine-cache" value="{UserPackageCache()}" />
              </fallbackPackageFolders>
              <packageSources>
                <clear />
                <add key="wsss-local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="wsss-local"><package pattern="Wsss" /></packageSource>
                <packageSource key="nuget.org"><package pattern="*" /></packageSource>
              </packageSourceMapping>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Wsss" Version="[{version}]" />
                <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram);
    }

    // Tensor arithmetic checked against the same arithmetic in C#, a PNG encode/decode round trip (SkiaSharp), a tiny
    // train/save/load/predict, and the path of TorchSharp's native library that the process actually mapped.
    private const string ConsumerProgram = """
        using TorchSharp;
        using Wsss.Data;
        using Wsss.Engine;
        using Wsss.Imaging;
        using Wsss.Inference;
        using Wsss.Model;
        using Wsss.Training;

        try
        {
            TorchEngine.EnsureLoaded();
            Console.WriteLine("libtorch: " + torch.__version__);
            var rng = new Random(7);
            float[] a = Enumerable.Range(0, 12).Select(_ => (float)rng.NextDouble()).ToArray();
            float[] b = Enumerable.Range(0, 12).Select(_ => (float)rng.NextDouble()).ToArray();
            using (torch.NewDisposeScope())
            {
                float[] c = ((torch.tensor(a, [3, 4]) * torch.tensor(b, [3, 4])) + 1.0).contiguous().data<float>().ToArray();
                for (int i = 0; i < c.Length; i++)
                {
                    if (Math.Abs(c[i] - (a[i] * b[i] + 1f)) > 1e-5f) throw new Exception($"tensor element {i}: {c[i]}");
                }
            }
            Console.WriteLine("tensor ops: ok");

            var image = new RgbImage(9, 13);
            for (int i = 0; i < image.Pixels.Length; i++) image.Pixels[i] = (byte)rng.Next(256);
            RgbImage back = ImageCodec.Decode(ImageCodec.EncodePng(image));
            if (back.Height != 9 || back.Width != 13 || !back.Pixels.AsSpan().SequenceEqual(image.Pixels)) throw new Exception("PNG round trip differs");
            Console.WriteLine("png round trip: ok");

            // A tiny train-and-predict through the package: SmallCnn, a few iterations on synthetic images.
            var synthetic = new SyntheticDataset(new SyntheticDatasetOptions { ImageSize = 64, ClassCount = 2, Seed = 3, MinVisiblePixels = 10 }, 6);
            var trainer = new RrmTrainer(new RrmTrainingOptions
            {
                Backbone = BackboneKind.SmallCnn, Iterations = 3, BatchSize = 2, CropSize = 64, Threads = 1, Seed = 1,
            });
            int reports = 0;
            string modelPath = Path.Combine(AppContext.BaseDirectory, "tiny.wsss");
            using (SegmentationModel model = trainer.Train(WeakDataset.From(synthetic), new Reporter(() => reports++)))
            {
                model.Save(modelPath);
            }
            using SegmentationModel loaded = SegmentationModel.Load(modelPath);
            SegmentationResult result = loaded.Predict(synthetic[0].Image);
            if (reports == 0) throw new Exception("no training progress was reported");
            if (result.Height != 64 || result.Width != 64) throw new Exception($"mask is {result.Height}x{result.Width}");
            if (result.Mask.Labels.Any(l => l > 2)) throw new Exception("mask holds a class index beyond the 2 classes");
            if (!loaded.ClassNames.SequenceEqual(synthetic.ClassNames)) throw new Exception("class names were not saved");
            Console.WriteLine("train and predict: ok");

            string mapped = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 6 && f[5].EndsWith("/libLibTorchSharp.so")).Select(f => f[5]).First();
            Console.WriteLine("native: " + mapped);
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e.ToString());
            return 3;
        }

        sealed class Reporter(Action onReport) : IProgress<TrainingProgress>
        {
            public void Report(TrainingProgress value) => onReport();
        }
        """;

    /// <summary>This machine's NuGet global packages folder (NUGET_PACKAGES or ~/.nuget/packages), where the solution's restore put TorchSharp.</summary>
    private static string UserPackageCache() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? Path.GetFullPath(packages)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static ProcessResult Dotnet(string workingDirectory, params string[] args) => Run(workingDirectory, "dotnet", args);

    private static ProcessResult Run(string workingDirectory, string fileName, IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        // A clean child: no explicit native path, no MSBuild state inherited from the test host, and a
        // private package cache (deleted with the temp folder) so test packages never pile up in ~/.nuget.
        foreach (string key in info.Environment.Keys.ToList())
        {
            if (key.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || key == "WSSS_NATIVE_LIBRARY")
            {
                info.Environment.Remove(key);
            }
        }

        info.Environment["NUGET_PACKAGES"] = Path.Combine(work!.Path, "packages");
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {fileName}");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(ProcessTimeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new ProcessResult(-1, $"{fileName} {string.Join(' ', args)} timed out after {ProcessTimeout}:\n{output}");
        }

        process.WaitForExit(); // flushes the asynchronous output readers
        lock (output)
        {
            return new ProcessResult(process.ExitCode, output.ToString());
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (string dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }

        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }

    private sealed record ProcessResult(int ExitCode, string Output);
}
