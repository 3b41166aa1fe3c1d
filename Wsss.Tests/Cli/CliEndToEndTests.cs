using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;

namespace Wsss.Tests.Cli;

/// <summary>The tool end to end on a tiny synthetic image folder: train, predict, evaluate, seeds, quickstart.</summary>
[TestClass]
[DoNotParallelize]
public sealed class CliEndToEndTests
{
    private static string root = null!;
    private static string model = null!;
    private static (int Code, string Out, string Err) train;

    [ClassInitialize]
    public static void Init(TestContext context)
    {
        root = Path.Combine(Path.GetTempPath(), $"wsss-cli-{Guid.NewGuid():N}");
        CliHost.WriteSyntheticFolder(root, 12);
        model = Path.Combine(root, "model.safetensors");
        train = CliHost.Run(
            "train", "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"),
            "--backbone", "SmallCnn", "--iterations", "6", "--batch", "4", "--crop", "48", "--lr", "0.01", "--momentum", "0.9",
            "--warmup", "0.5", "--checkpoint", Path.Combine(root, "train.ckpt"), "--checkpoint-interval", "3",
            "--threads", "2", "--device", "cpu", "--no-progress", "--output", model);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        if (root is not null && Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [TestMethod]
    public void ExportOnnx_WritesAModelThatOnnxRuntimeRunsLikeTorchSharp()
    {
        string fixture = Path.Combine(TestData.RepoRoot, "Wsss.Tests", "Fixtures", "model-v0.1-smallcnn", "smallcnn.safetensors");
        string output = Path.Combine(root, "export", "smallcnn.onnx");
        var (code, stdout, stderr) = CliHost.Run("export-onnx", "--model", fixture, "--output", output, "--cams", "--threads", "2");
        Assert.AreEqual(0, code, stderr);
        StringAssert.Contains(stdout, "exported SmallCnn");
        StringAssert.Contains(stdout, "outputs probabilities, cams");
        StringAssert.Contains(stdout, "check: ONNX Runtime 1.31");
        var diff = Regex.Match(stdout, @"max \|p diff\| ([0-9.E+-]+)");
        Assert.IsTrue(diff.Success, stdout);
        Assert.IsLessThanOrEqualTo(1e-4, double.Parse(diff.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.AreEqual("Wsss", global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(output)).ProducerName);
    }

    [TestMethod]
    public void TrainWritesTheModelAndCheckpoint()
    {
        Assert.AreEqual(0, train.Code, train.Err);
        Assert.IsTrue(File.Exists(model), "model file");
        Assert.IsTrue(File.Exists(Path.Combine(root, "train.ckpt")), "checkpoint file");
        StringAssert.Contains(train.Out, "training 6/6");
        StringAssert.Contains(train.Out, "model: " + model);
    }

    [TestMethod]
    public void TrainOnMasks_WritesAModelThatEvaluates_AndResumesItsCheckpoint()
    {
        // The two-step variant's second step: the same command with --masks (here the synthetic ground truth; the
        // seeds command's pseudo/ folder in practice).
        string masksModel = Path.Combine(root, "masks-model.safetensors");
        string checkpoint = Path.Combine(root, "masks.ckpt");
        string[] args =
        [
            "train", "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"), "--masks", Path.Combine(root, "masks"),
            "--backbone", "SmallCnn", "--iterations", "4", "--batch", "4", "--crop", "48", "--lr", "0.01", "--momentum", "0.9", "--warmup", "0.5",
            "--checkpoint", checkpoint, "--checkpoint-interval", "2", "--threads", "2", "--device", "cpu", "--no-progress", "--output", masksModel,
            "--max-side", "24",
        ];
        var (code, stdout, stderr) = CliHost.Run(args);
        Assert.AreEqual(0, code, stderr);
        StringAssert.Contains(stdout, "train on masks: 12 images, 3 classes");
        StringAssert.Contains(stdout, "crop 48 of images at most 24 px");
        StringAssert.Contains(stdout, "training on masks 4/4");
        StringAssert.Contains(stdout, "cross-entropy");
        StringAssert.Contains(stderr, "--warmup does not apply with --masks");
        Assert.AreEqual("4", Wsss.Model.Serialization.SafetensorsFile.ReadHeader(checkpoint).Metadata["iteration"]);

        var eval = CliHost.Run("evaluate", "--model", masksModel, "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"), "--masks", Path.Combine(root, "masks"), "--no-progress");
        Assert.AreEqual(0, eval.Code, eval.Err);
        StringAssert.Contains(eval.Out, "mIoU");

        // The model keeps its 24-px training size: predict works at it and writes masks at the images' 48 px.
        string predicted = Path.Combine(root, "pred-24");
        var predict = CliHost.Run("predict", "--model", masksModel, Path.Combine(root, "images"), "--output", predicted, "--no-progress");
        Assert.AreEqual(0, predict.Code, predict.Err);
        var mask = PalettePng.Decode(Path.Combine(predicted, "masks", "img000.png"));
        Assert.AreEqual((48, 48), (mask.Height, mask.Width));
        for (int i = 0; i < mask.Indices.Length; i += 2)
        {
            Assert.AreEqual(mask.Indices[i], mask.Indices[i + 1], "each pixel pair is one 24-px prediction scaled back");
        }

        var export = CliHost.Run("export-onnx", "--model", masksModel, "--output", Path.Combine(root, "m24.onnx"), "--no-check");
        Assert.AreEqual(0, export.Code, export.Err);
        StringAssert.Contains(export.Out, "at most 24 px");

        // The RRM checkpoint of the class's weak run is not resumed as training on masks, and says why.
        var mixed = CliHost.Run([.. args.Select(a => a == checkpoint ? Path.Combine(root, "train.ckpt") : a)]);
        Assert.AreNotEqual(0, mixed.Code);
        StringAssert.Contains(mixed.Err, "RRM training on image-level labels");

        // A mask folder without the masks names the first missing file.
        string empty = Path.Combine(root, "no-masks");
        Directory.CreateDirectory(empty);
        var missing = CliHost.Run([.. args.Select(a => a == Path.Combine(root, "masks") ? empty : a == checkpoint ? Path.Combine(root, "none.ckpt") : a)]);
        Assert.AreNotEqual(0, missing.Code);
        StringAssert.Contains(missing.Err, Path.Combine(empty, "img000.png"));
    }

    [TestMethod]
    public void PredictWritesPaletteMasksAndOverlays()
    {
        Assert.AreEqual(0, train.Code, train.Err);
        string output = Path.Combine(root, "pred");
        var (code, stdout, stderr) = CliHost.Run("predict", "--model", model, Path.Combine(root, "images"), "--flip", "--scales", "0.75,1", "--crf", "--output", output, "--no-progress");
        Assert.AreEqual(0, code, stderr);
        StringAssert.Contains(stdout, "predicted 12 images");
        foreach (string image in Directory.GetFiles(Path.Combine(root, "images")))
        {
            string name = Path.GetFileName(image);
            var mask = PalettePng.Decode(Path.Combine(output, "masks", name));
            Assert.AreEqual(48, mask.Height);
            Assert.IsTrue(mask.Indices.All(v => v <= 3), "mask values are 0..C");
            var overlay = ImageCodec.Decode(Path.Combine(output, "overlays", name));
            Assert.AreEqual(48, overlay.Width);
        }
    }

    [TestMethod]
    public void EvaluateJsonIsOneParseableObject()
    {
        Assert.AreEqual(0, train.Code, train.Err);
        var (code, stdout, stderr) = CliHost.Run("evaluate", "--model", model, "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"), "--masks", Path.Combine(root, "masks"), "--json");
        Assert.AreEqual(0, code, stderr);
        using var json = JsonDocument.Parse(stdout);
        var o = json.RootElement;
        Assert.AreEqual(12, o.GetProperty("images").GetInt32());
        double miou = o.GetProperty("miou").GetDouble();
        Assert.IsTrue(miou is >= 0 and <= 1, $"miou {miou}");
        double accuracy = o.GetProperty("pixelAccuracy").GetDouble();
        Assert.IsTrue(accuracy is > 0 and <= 1, $"pixel accuracy {accuracy}");
        var names = o.GetProperty("iou").EnumerateObject().Select(p => p.Name).ToArray();
        CollectionAssert.AreEqual(new[] { "background", "disc", "square", "triangle" }, names);
        Assert.AreEqual(1, stdout.Trim().Split('\n').Length, "exactly one line on stdout");

        var table = CliHost.Run("evaluate", "--model", model, "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"), "--masks", Path.Combine(root, "masks"), "--no-progress");
        Assert.AreEqual(0, table.Code, table.Err);
        StringAssert.Contains(table.Out, "mIoU");
        StringAssert.Contains(table.Out, (miou * 100).ToString("F2", System.Globalization.CultureInfo.InvariantCulture));
    }

    [TestMethod]
    public void SeedsExportsSeedsAndPseudoMasks()
    {
        Assert.AreEqual(0, train.Code, train.Err);
        string output = Path.Combine(root, "pseudo-labels");
        var (code, stdout, stderr) = CliHost.Run("seeds", "--model", model, "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"), "--masks", Path.Combine(root, "masks"), "--output", output, "--no-progress");
        Assert.AreEqual(0, code, stderr);
        StringAssert.Contains(stdout, "pseudo-mask mIoU");
        var labels = File.ReadAllLines(Path.Combine(root, "labels.csv")).Skip(1).Select(l => l.Split(',')).ToDictionary(f => Path.GetFileNameWithoutExtension(f[0]), f => f[1].Split(' '));
        string[] classes = ["disc", "square", "triangle"];
        foreach (var (id, names) in labels)
        {
            var allowed = names.Select(n => (byte)(Array.IndexOf(classes, n) + 1)).Append((byte)0).ToHashSet();
            var seeds = PalettePng.Decode(Path.Combine(output, "seeds", id + ".png"));
            Assert.IsTrue(seeds.Indices.All(v => v == 255 || allowed.Contains(v)), $"seeds of {id}");
            var pseudo = PalettePng.Decode(Path.Combine(output, "pseudo", id + ".png"));
            Assert.IsTrue(pseudo.Indices.All(allowed.Contains), $"pseudo mask of {id} only has its labelled classes");
        }

        // CAM + CRF pseudo masks (the small-dataset recipe's) keep to the labels too.
        string camOutput = Path.Combine(root, "pseudo-cam");
        (code, stdout, stderr) = CliHost.Run("seeds", "--model", model, "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"), "--masks", Path.Combine(root, "masks"), "--output", camOutput, "--no-seeds", "--cam-weight", "1", "--cam-threshold", "0.2", "--cam-scales", "0.5", "--no-progress");
        Assert.AreEqual(0, code, stderr);
        StringAssert.Contains(stdout, "pseudo-mask mIoU");
        foreach (var (id, names) in labels)
        {
            var allowed = names.Select(n => (byte)(Array.IndexOf(classes, n) + 1)).Append((byte)0).ToHashSet();
            Assert.IsTrue(PalettePng.Decode(Path.Combine(camOutput, "pseudo", id + ".png")).Indices.All(allowed.Contains), $"CAM pseudo mask of {id}");
        }
    }

    [TestMethod]
    public void QuickstartWritesReportAndEndsWithTheSummaryLine()
    {
        string output = Path.Combine(root, "quickstart");
        var (code, stdout, stderr) = CliHost.Run("quickstart", "--iterations", "4", "--train-images", "16", "--test-images", "4", "--threads", "2", "--output", output, "--no-progress");
        Assert.AreEqual(0, code, stderr);
        string last = stdout.TrimEnd().Split('\n')[^1].TrimEnd('\r');
        var match = Regex.Match(last, @"^quickstart mIoU: (\d+\.\d+) report: (.+)$");
        Assert.IsTrue(match.Success, $"last line: {last}");
        Assert.AreEqual(Path.Combine(output, "report.html"), match.Groups[2].Value);
        string html = File.ReadAllText(match.Groups[2].Value);
        StringAssert.Contains(html, "data:image/png;base64,");
        StringAssert.Contains(html, "<svg");
        StringAssert.Contains(html, "mIoU");
        Assert.IsTrue(File.Exists(Path.Combine(output, "model.safetensors")));
    }
}
