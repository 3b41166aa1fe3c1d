using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Wsss.Tests.Packaging;

/// <summary>
/// Packs Wsss into a local feed and consumes it from a fresh console project, the way a user would:
/// catches packaging mistakes (missing native asset, wrong runtimes/ path, README or license metadata)
/// that the in-repo project references never exercise. Slow (about a minute): one pack, one restore+build.
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

    /// <summary>Packs, builds the consumer and runs it once; the tests inspect the results.</summary>
    [ClassInitialize]
    public static void Setup(TestContext context)
    {
        _ = context;
        if (!OperatingSystem.IsLinux())
        {
            setupFailure = "inconclusive: the package's native asset is for linux-x64 only";
            return;
        }

        work = TestData.NewTempDirectory();
        string feed = Path.Combine(work.Path, "feed");
        string configuration = BuildConfiguration();
        // A version never used before, so that a package cached by an earlier run is never picked up.
        string version = $"0.0.0-pkgtest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

        // --no-build packs exactly the assembly and native library that this test run was built with.
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
        ProcessResult build = Dotnet(app, "build", "-c", "Release", "-nologo", "-o", Path.Combine(app, "out"));
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
    public void Package_HasNativeAssetDocsSymbolsAndMetadata()
    {
        RequireSetup();
        Assert.IsTrue(File.Exists(packagePath), $"no package at {packagePath}");
        using (ZipArchive zip = ZipFile.OpenRead(packagePath!))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
            foreach (string expected in new[]
                     {
                         "lib/net10.0/Wsss.dll", "lib/net10.0/Wsss.xml", "runtimes/linux-x64/native/libwsss_native.so", "PACKAGE.md",
                     })
            {
                Assert.Contains(expected, entries, $"package entries: {string.Join(", ", entries)}");
            }

            long nativeSize = zip.GetEntry("runtimes/linux-x64/native/libwsss_native.so")!.Length;
            long builtSize = new FileInfo(Path.Combine(TestData.RepoRoot, "native", "build", "libwsss_native.so")).Length;
            Assert.AreEqual(builtSize, nativeSize, "the packed native library is not the one built in native/build");

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

            // Images go through SkiaSharp: the pinned version and the Linux native assets that need no system library.
            var dependencies = metadata.Descendants().Where(e => e.Name.LocalName == "dependency")
                .ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value, StringComparer.OrdinalIgnoreCase);
            Assert.AreEqual("2.88.9", dependencies.GetValueOrDefault("SkiaSharp"), $"dependencies: {string.Join(", ", dependencies)}");
            Assert.AreEqual("2.88.9", dependencies.GetValueOrDefault("SkiaSharp.NativeAssets.Linux.NoDependencies"), $"dependencies: {string.Join(", ", dependencies)}");
        }

        Assert.IsTrue(File.Exists(symbolsPath), $"no symbol package at {symbolsPath}");
        using ZipArchive symbols = ZipFile.OpenRead(symbolsPath!);
        Assert.IsTrue(symbols.Entries.Any(e => e.FullName == "lib/net10.0/Wsss.pdb"), "the .snupkg has no Wsss.pdb");
    }

    [TestMethod]
    public void Consumer_GetsNativeLibraryFromPackageAndRuns()
    {
        RequireSetup();
        string copied = Path.Combine(consumerOutput!, "runtimes", "linux-x64", "native", "libwsss_native.so");
        Assert.IsTrue(File.Exists(copied), $"NuGet did not copy the native asset into the consumer's output ({copied})");
        string deps = File.ReadAllText(Path.Combine(consumerOutput!, "Consumer.deps.json"));
        StringAssert.Contains(deps, "runtimes/linux-x64/native/libwsss_native.so", "the native asset is not a runtime target in deps.json");
        Assert.IsTrue(File.Exists(Path.Combine(consumerOutput!, "runtimes", "linux-x64", "native", "libSkiaSharp.so")), "SkiaSharp's native library did not reach the consumer's output");

        Assert.AreEqual(0, consumerRun!.ExitCode, "consumer program failed:\n" + consumerRun.Output);
        StringAssert.Contains(consumerRun.Output, "tensor ops: ok");
        StringAssert.Contains(consumerRun.Output, "png round trip: ok");
        StringAssert.Contains(consumerRun.Output, "train and predict: ok");
        // The program reports which file the dynamic linker mapped: it must be the package's copy.
        string loaded = consumerRun.Output.Split('\n').Single(l => l.StartsWith("native: ", StringComparison.Ordinal))["native: ".Length..].Trim();
        Assert.AreEqual(Path.GetFullPath(copied), loaded);
    }

    [TestMethod]
    public void Consumer_WithoutLibtorch_FailsWithMessageNamingTheDebianPackage()
    {
        RequireSetup();
        string? compiler = new[] { "cc", "gcc", "g++" }.FirstOrDefault(c => FindOnPath(c) is not null);
        if (compiler is null)
        {
            Assert.Inconclusive("no C compiler (cc/gcc) to build a stand-in library with a missing dependency");
        }

        // A copy of the consumer whose libwsss_native.so needs a library that does not exist: what a
        // machine without libtorch sees (libtorch cannot be hidden here because it is installed system-wide).
        string broken = Path.Combine(work!.Path, "broken");
        CopyDirectory(consumerOutput!, broken);
        string native = Path.Combine(broken, "runtimes", "linux-x64", "native");
        string depSource = Path.Combine(work.Path, "dep.c");
        string stubSource = Path.Combine(work.Path, "stub.c");
        File.WriteAllText(depSource, "int wsss_absent(void) { return 1; }\n");
        File.WriteAllText(stubSource, "int wsss_absent(void);\nint wsss_stub(void) { return wsss_absent(); }\n");
        ProcessResult dep = Run(work.Path, compiler!, ["-shared", "-fPIC", "-o", Path.Combine(work.Path, "libwsss_absent_dep.so"), depSource]);
        Assert.AreEqual(0, dep.ExitCode, dep.Output);
        // --no-as-needed: some toolchains drop a dependency whose symbols look unused.
        ProcessResult stub = Run(work.Path, compiler!,
            ["-shared", "-fPIC", "-o", Path.Combine(native, "libwsss_native.so"), stubSource, "-Wl,--no-as-needed", "-L" + work.Path, "-lwsss_absent_dep"]);
        Assert.AreEqual(0, stub.ExitCode, stub.Output);
        File.Delete(Path.Combine(work.Path, "libwsss_absent_dep.so"));

        ProcessResult run = Run(broken, "dotnet", [Path.Combine(broken, "Consumer.dll")]);

        Assert.AreNotEqual(0, run.ExitCode, "the program ran although its native library cannot load:\n" + run.Output);
        StringAssert.Contains(run.Output, "DllNotFoundException");
        StringAssert.Contains(run.Output, "libwsss_absent_dep.so", "the message should carry the loader's reason");
        StringAssert.Contains(run.Output, "apt-get install libtorch-dev", "the message should name the Debian package to install");
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
        // The local feed serves Wsss only (source mapping), the default source anything else (SkiaSharp
        // and its native assets, which Wsss depends on).
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
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
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram);
    }

    // Tensor arithmetic checked against the same arithmetic in C#, a PNG encode/decode round trip (SkiaSharp), a tiny
    // train/save/load/predict, and the path of the native library the process actually mapped.
    private const string ConsumerProgram = """
        using Wsss.Data;
        using Wsss.Imaging;
        using Wsss.Inference;
        using Wsss.Model;
        using Wsss.Torch;
        using Wsss.Training;
        using TorchOps = Wsss.Torch.Torch;

        try
        {
            var rng = new Random(7);
            float[] a = Enumerable.Range(0, 12).Select(_ => (float)rng.NextDouble()).ToArray();
            float[] b = Enumerable.Range(0, 12).Select(_ => (float)rng.NextDouble()).ToArray();
            using Tensor ta = TorchOps.FromArray(a, 3, 4);
            using Tensor tb = TorchOps.FromArray(b, 3, 4);
            using Tensor tc = ta * tb + 1.0;
            float[] c = tc.ToArray<float>();
            for (int i = 0; i < c.Length; i++)
            {
                if (Math.Abs(c[i] - (a[i] * b[i] + 1f)) > 1e-5f) throw new Exception($"tensor element {i}: {c[i]}");
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
                .Where(f => f.Length >= 6 && f[5].EndsWith("/libwsss_native.so")).Select(f => f[5]).First();
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

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

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
