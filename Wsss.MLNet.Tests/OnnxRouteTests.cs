using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Onnx;
using Wsss.Tests.Onnx;

namespace Wsss.MLNet.Tests;

/// <summary>
/// The self-contained ML.NET route: a Wsss model exported to ONNX, served by ML.NET's own steps (LoadImages ->
/// ApplySegmentationOnnxModel: ResizeImages -> ExtractPixels -> ApplyOnnxModel, the normalisation inside the graph), saved by
/// mlContext.Model.Save into one zip, and loaded by samples/MLNetOnnxZip, a separate process that references ML.NET and
/// ONNX Runtime only. The network is a MobileNetV1 0.25 with random weights (TensorFlow 'same' padding and folded
/// BatchNorm on the way); the images have the zip's size, so ResizeImages passes them through and the Wsss model sees the
/// same pixels.
/// </summary>
[TestClass]
public sealed class OnnxRouteTests
{
    private const int Height = 48;
    private const int Width = 64;
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromMinutes(2);

    private static string folder = "";
    private static string onnxPath = "";
    private static SegmentationModel model = null!;
    private static List<InputRow> rows = [];
    private static MLContext ml = null!;

    [ClassInitialize]
    public static void Setup(TestContext context)
    {
        _ = context;
        folder = Path.Combine(Path.GetTempPath(), "wsss-onnx-route-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        model = RandomNetworks.Model(new MobileNetV1(0.25), BackboneKind.MobileNetV1, 0.25);
        onnxPath = Path.Combine(folder, "segmenter.onnx");
        model.ExportOnnx(onnxPath);
        for (int i = 0; i < 5; i++)
        {
            string path = Path.Combine(folder, $"image{i}.png");
            ImageCodec.SavePng(RandomNetworks.Image(Height, Width, 20 + i), path);
            rows.Add(new InputRow { ImagePath = path });
        }

        ml = new MLContext(seed: 1);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        model?.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    private static IEstimator<ITransformer> Pipeline(string onnx) =>
        ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath")
            .Append(ml.Transforms.ApplySegmentationOnnxModel(onnx, new OnnxSegmentationOptions { ImageWidth = Width, ImageHeight = Height, IntraOpNumThreads = 2 }));

    [TestMethod]
    public void ZipWithTheOnnxModelInside_PredictsTheWsssMasks_InAProcessWithoutWsssOrTorchSharp()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var fitted = Pipeline(onnxPath).Fit(data);
        var expected = rows.Select(r => model.Predict(ImageCodec.Decode(r.ImagePath), new PredictionOptions { IncludeProbabilities = true })).ToArray();

        // In this process first: the probabilities column is the Wsss model's single-scale probabilities.
        var probabilities = fitted.Transform(data).GetColumn<float[]>("probabilities").ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            float worst = expected[i].Probabilities!.Zip(probabilities[i], (a, b) => Math.Abs(a - b)).Max();
            Assert.IsLessThanOrEqualTo(1e-4f, worst, $"image {i}: probability difference in ML.NET");
        }

        string zip = Path.Combine(folder, "pipeline.zip");
        ml.Model.Save(fitted, data.Schema, zip);
        using (var archive = ZipFile.OpenRead(zip))
        {
            long onnxBytes = new FileInfo(onnxPath).Length;
            Assert.IsTrue(archive.Entries.Any(e => e.Length >= onnxBytes), "the zip holds the ONNX model's bytes");
        }

        // The zip must stand alone: the exported file is gone when the other process loads it.
        string moved = onnxPath + ".away";
        File.Move(onnxPath, moved);
        ProcessResult run;
        string masks = Path.Combine(folder, "masks");
        try
        {
            run = RunConsumer([zip, masks, .. rows.Select(r => r.ImagePath)]);
        }
        finally
        {
            File.Move(moved, onnxPath);
        }

        Assert.AreEqual(0, run.ExitCode, "the consumer failed:\n" + run.Output);
        long same = 0, pixels = 0;
        var classes = new HashSet<byte>();
        for (int i = 0; i < rows.Count; i++)
        {
            StringAssert.Contains(run.Output, $"mask {i} {Height}x{Width}");
            byte[] mask = File.ReadAllBytes(Path.Combine(masks, $"{i}.mask"));
            byte[] reference = expected[i].Mask.Labels;
            Assert.HasCount(reference.Length, mask, $"image {i}: mask size");
            same += mask.Zip(reference).Count(p => p.First == p.Second);
            pixels += mask.Length;
            classes.UnionWith(reference);
        }

        double agreement = (double)same / pixels;
        Console.WriteLine($"ML.NET zip in a separate process vs Wsss: argmax agreement {agreement:P3} over {pixels} pixels of {rows.Count} images");
        Assert.IsGreaterThanOrEqualTo(0.999, agreement, "argmax agreement of the zip's masks with the Wsss model's");
        Assert.IsGreaterThan(1, classes.Count, "masks of one class compare little");

        // What that process loaded: ML.NET and ONNX Runtime, never Wsss, TorchSharp or libtorch.
        string[] assemblies = Line(run.Output, "assemblies: ").Split(',');
        foreach (string required in new[] { "Microsoft.ML.Data", "Microsoft.ML.ImageAnalytics", "Microsoft.ML.OnnxTransformer", "Microsoft.ML.OnnxRuntime" })
        {
            CollectionAssert.Contains(assemblies, required, "assemblies: " + string.Join(", ", assemblies));
        }

        string[] forbidden = assemblies.Where(a => a.StartsWith("Wsss", StringComparison.OrdinalIgnoreCase) || a.StartsWith("TorchSharp", StringComparison.OrdinalIgnoreCase)).ToArray();
        Assert.IsEmpty(forbidden, "loaded: " + string.Join(", ", forbidden));
        string native = Line(run.Output, "native: ");
        StringAssert.Contains(native, "libonnxruntime.so");
        Assert.IsFalse(native.Contains("torch", StringComparison.Ordinal) || native.Contains("c10", StringComparison.Ordinal), native);

        // And what it references: the four ML.NET / ONNX Runtime packages, nothing of Wsss in its dependency graph.
        var references = XDocument.Load(Path.Combine(ConsumerProjectFolder(), "MLNetOnnxZip.csproj")).Descendants()
            .Where(e => e.Name.LocalName is "PackageReference" or "ProjectReference").Select(e => e.Attribute("Include")?.Value).Order().ToArray();
        CollectionAssert.AreEqual(new[] { "Microsoft.ML", "Microsoft.ML.ImageAnalytics", "Microsoft.ML.OnnxRuntime", "Microsoft.ML.OnnxTransformer" }, references);
        string deps = File.ReadAllText(Path.ChangeExtension(ConsumerDll(), ".deps.json"));
        Assert.IsFalse(deps.Contains("Wsss", StringComparison.OrdinalIgnoreCase) || deps.Contains("TorchSharp", StringComparison.OrdinalIgnoreCase), "the consumer's deps.json names Wsss or TorchSharp");
    }

    [TestMethod]
    public void ImagesOfOtherSizes_AreResizedToTheZipsSize()
    {
        string path = Path.Combine(folder, "other-size.png");
        ImageCodec.SavePng(RandomNetworks.Image(70, 33, 3), path);
        var data = ml.Data.LoadFromEnumerable(new[] { new InputRow { ImagePath = path } });
        float[] p = Pipeline(onnxPath).Fit(data).Transform(data).GetColumn<float[]>("probabilities").Single();
        Assert.HasCount((RandomNetworks.ClassNames.Length + 1) * Height * Width, p);
        int plane = Height * Width;
        Assert.AreEqual(1f, Enumerable.Range(0, RandomNetworks.ClassNames.Length + 1).Sum(c => p[(c * plane) + 17]), 1e-5f, "a softmax over the classes");
    }

    [TestMethod]
    public void CorruptOnnxFile_FailsWithOnnxRuntimesMessageAndTheFileName()
    {
        string corrupt = Path.Combine(folder, "corrupt.onnx");
        byte[] bytes = File.ReadAllBytes(onnxPath);
        File.WriteAllBytes(corrupt, bytes.AsSpan(0, bytes.Length / 3).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => ml.Transforms.ApplySegmentationOnnxModel(corrupt));
        Console.WriteLine(e.Message);
        StringAssert.Contains(e.Message, corrupt);
        StringAssert.Contains(e.Message, "ONNX Runtime could not load");
        Assert.IsInstanceOfType<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(e.InnerException);
        StringAssert.Contains(e.Message, e.InnerException!.Message, "ONNX Runtime's own message");

        Assert.Throws<FileNotFoundException>(() => ml.Transforms.ApplySegmentationOnnxModel(Path.Combine(folder, "missing.onnx")));
    }

    [TestMethod]
    public void ExportForBgraPlanes_IsRejectedWithTheInputFormatToUse()
    {
        string bgra = Path.Combine(folder, "bgra.onnx");
        model.ExportOnnx(bgra, new OnnxExportOptions { InputFormat = OnnxInputFormat.BgraPlanes });
        var e = Assert.Throws<NotSupportedException>(() => ml.Transforms.ApplySegmentationOnnxModel(bgra));
        StringAssert.Contains(e.Message, "BgraPlanes");
        StringAssert.Contains(e.Message, "RgbPlanes");
    }

    private static string Line(string output, string prefix) =>
        output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..]
        ?? throw new AssertFailedException($"no '{prefix}' line in:\n{output}");

    private static string ConsumerProjectFolder()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Wsss.MLNet.sln")))
        {
            dir = dir.Parent;
        }

        return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("Wsss.MLNet.sln not found above the test binaries."), "samples", "MLNetOnnxZip");
    }

    private static string ConsumerDll()
    {
        // bin/<Configuration>/net10.0 of this test assembly: the consumer built with the same configuration (the test
        // project references it for the build order only).
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string path = Path.Combine(ConsumerProjectFolder(), "bin", bin.Parent!.Name, bin.Name, "MLNetOnnxZip.dll");
        Assert.IsTrue(File.Exists(path), $"{path} is missing: build the solution (the test project builds it too)");
        return path;
    }

    private static ProcessResult RunConsumer(IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ConsumerDll());
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(ProcessTimeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new ProcessResult(-1, $"timed out after {ProcessTimeout}:\n{output}");
        }

        process.WaitForExit();
        lock (output)
        {
            return new ProcessResult(process.ExitCode, output.ToString());
        }
    }

    private sealed record ProcessResult(int ExitCode, string Output);
}
