using System.CommandLine;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;
using Wsss.Samples;

namespace Wsss.Tests.Cli;

/// <summary>Bad arguments and bad files: a clear one-line reason on stderr and a non-zero exit code.</summary>
[TestClass]
[DoNotParallelize]
public sealed class CliErrorTests
{
    private static string root = null!;

    [ClassInitialize]
    public static void Init(TestContext context)
    {
        root = Path.Combine(Path.GetTempPath(), $"wsss-cli-errors-{Guid.NewGuid():N}");
        CliHost.WriteSyntheticFolder(root, 3);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        if (root is not null && Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static void AssertFails((int Code, string Out, string Err) result, string expected)
    {
        Assert.AreNotEqual(0, result.Code, $"should fail; stdout: {result.Out}");
        StringAssert.Contains(result.Err, expected);
    }

    private static void AssertOneLineFailure((int Code, string Out, string Err) result, string expected)
    {
        Assert.AreEqual(2, result.Code, $"stderr: {result.Err}");
        var lines = result.Err.Trim().Split('\n');
        Assert.HasCount(1, lines, result.Err);
        StringAssert.StartsWith(lines[0], "error: ");
        StringAssert.Contains(lines[0], expected);
    }

    [TestMethod]
    public void EveryOptionAndArgumentIsDescribed()
    {
        var root = CliApp.Build();
        var undocumented = new List<string>();
        foreach (var command in root.Subcommands)
        {
            if (string.IsNullOrWhiteSpace(command.Description))
            {
                undocumented.Add(command.Name);
            }

            undocumented.AddRange(command.Options.Where(o => o.Name is not "--help" and not "-h" and not "-?" && string.IsNullOrWhiteSpace(o.Description)).Select(o => $"{command.Name} {o.Name}"));
            undocumented.AddRange(command.Arguments.Where(a => string.IsNullOrWhiteSpace(a.Description)).Select(a => $"{command.Name} <{a.Name}>"));
        }

        Assert.IsEmpty(undocumented, string.Join(", ", undocumented));
        string[] expected = ["quickstart", "train", "predict", "evaluate", "seeds", "bench"];
        CollectionAssert.IsSubsetOf(expected, root.Subcommands.Select(c => c.Name).ToArray());
    }

    [TestMethod]
    public void HelpListsTheOptions()
    {
        var (code, stdout, _) = CliHost.Run("train", "--help");
        Assert.AreEqual(0, code);
        foreach (string option in new[] { "--voc", "--images", "--labels", "--backbone", "--weights", "--width", "--iterations", "--batch", "--crop", "--lr", "--backbone-lr-factor", "--momentum", "--warmup", "--checkpoint", "--threads", "--device", "--seed", "--output" })
        {
            StringAssert.Contains(stdout, option);
        }
    }

    [TestMethod]
    public void ParserErrorsAreNonZero()
    {
        AssertFails(CliHost.Run("train", "--no-such-option"), "--no-such-option");
        AssertFails(CliHost.Run("predict", Path.Combine(root, "images")), "--model");
        AssertFails(CliHost.Run("train", "--iterations", "many"), "many");
        AssertFails(CliHost.Run("frobnicate"), "frobnicate");
    }

    [TestMethod]
    public void MissingAndBadFilesAreOneLineFailures()
    {
        string missing = Path.Combine(root, "nope.safetensors");
        AssertOneLineFailure(CliHost.Run("predict", "--model", missing, Path.Combine(root, "images")), "model file not found");

        string junk = Path.Combine(root, "junk.safetensors");
        File.WriteAllBytes(junk, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        AssertOneLineFailure(CliHost.Run("predict", "--model", junk, Path.Combine(root, "images")), "junk.safetensors");

        AssertOneLineFailure(CliHost.Run("train", "--images", Path.Combine(root, "no-such-folder"), "--labels", Path.Combine(root, "labels.csv"), "--backbone", "SmallCnn"), "no-such-folder");
        AssertOneLineFailure(CliHost.Run("train", "--backbone", "SmallCnn"), "--voc");
        AssertOneLineFailure(CliHost.Run("train", "--voc", Path.Combine(root, "no-voc-here"), "--backbone", "SmallCnn"), "no-voc-here");
        AssertOneLineFailure(CliHost.Run("train", "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"), "--backbone", "MobileNetV1", "--weights", Path.Combine(root, "missing.json")), "missing.json");
    }

    [TestMethod]
    public void PredictOnATruncatedJpegIsAOneLineFailureNamingTheFile()
    {
        // Before, a JPEG cut short decoded to a half-grey picture and predict printed a normal result.
        string model = Path.Combine(TestData.RepoRoot, "Wsss.Tests", "Fixtures", "model-v0.1-smallcnn", "smallcnn.safetensors");
        var noise = new byte[96 * 128 * 3];
        new Random(9).NextBytes(noise);
        byte[] jpeg = Wsss.Tests.Imaging.TestImages.EncodeWithSkia(new RgbImage(96, 128, noise), SkiaSharp.SKEncodedImageFormat.Jpeg, 90);
        string folder = Path.Combine(root, "cut-jpeg");
        Directory.CreateDirectory(folder);
        string cut = Path.Combine(folder, "cut.jpg");
        File.WriteAllBytes(cut, jpeg[..5000]);
        var result = CliHost.Run("predict", "--model", model, cut, "--output", Path.Combine(root, "cut-predictions"), "--no-progress");
        AssertOneLineFailure(result, cut);
        StringAssert.Contains(result.Err, "truncated (IncompleteInput)");
        Assert.DoesNotContain("predicted", result.Out);
    }

    [TestMethod]
    public void BadLabelsNameTheFileAndLine()
    {
        string csv = Path.Combine(root, "bad-labels.csv");
        File.WriteAllLines(csv, ["image,labels", "img000.png,disc", "img001.png,unicorn"]);
        var unknown = CliHost.Run("train", "--images", Path.Combine(root, "images"), "--labels", csv, "--classes", "disc,square,triangle", "--backbone", "SmallCnn", "--iterations", "1", "--no-progress");
        AssertOneLineFailure(unknown, "bad-labels.csv:3");
        StringAssert.Contains(unknown.Err, "unicorn");

        File.WriteAllLines(csv, ["image,labels", "img000.png,disc", "img001.png,"]);
        var empty = CliHost.Run("train", "--images", Path.Combine(root, "images"), "--labels", csv, "--backbone", "SmallCnn", "--iterations", "1", "--no-progress");
        AssertOneLineFailure(empty, "bad-labels.csv:3");

        File.WriteAllLines(csv, ["image,labels", "img000.png,disc", "missing.png,disc"]);
        var missingImage = CliHost.Run("train", "--images", Path.Combine(root, "images"), "--labels", csv, "--backbone", "SmallCnn", "--iterations", "1", "--no-progress");
        AssertOneLineFailure(missingImage, "missing.png");
    }

    [TestMethod]
    public void InvalidSettingsAreOneLineFailures()
    {
        string images = Path.Combine(root, "images"), labels = Path.Combine(root, "labels.csv");
        AssertOneLineFailure(CliHost.Run("train", "--images", images, "--labels", labels, "--backbone", "SmallCnn", "--iterations", "0"), "Iterations");
        AssertOneLineFailure(CliHost.Run("train", "--images", images, "--labels", labels, "--backbone", "SmallCnn", "--momentum", "1.5"), "Momentum");
        AssertOneLineFailure(CliHost.Run("train", "--images", images, "--labels", labels, "--backbone", "SmallCnn", "--backbone-lr-factor", "-1"), "BackboneLearningRateFactor");
        AssertOneLineFailure(CliHost.Run("train", "--images", images, "--labels", labels, "--backbone", "SmallCnn", "--threads", "-1"), "--threads");
        AssertOneLineFailure(CliHost.Run("quickstart", "--iterations", "-3"), "--iterations");
        AssertOneLineFailure(CliHost.Run("evaluate", "--model", Path.Combine(root, "x.safetensors"), "--images", images, "--labels", labels, "--scales", "1,abc"), "--scales");
    }

    [TestMethod]
    public void ExportOnnxBadArgumentsAreOneLineFailures()
    {
        string model = Path.Combine(TestData.RepoRoot, "Wsss.Tests", "Fixtures", "model-v0.1-smallcnn", "smallcnn.safetensors");
        string output = Path.Combine(root, "bad.onnx");
        AssertOneLineFailure(CliHost.Run("export-onnx", "--model", Path.Combine(root, "nope.safetensors"), "--output", output), "model file not found");
        AssertOneLineFailure(CliHost.Run("export-onnx", "--model", model, "--output", output, "--input-format", "yuv"), "--input-format must be rgb, bgra or normalized");
        AssertOneLineFailure(CliHost.Run("export-onnx", "--model", model, "--output", output, "--opset", "13"), "Opset must be 17 to 21");
        AssertOneLineFailure(CliHost.Run("export-onnx", "--model", model, "--output", output, "--batch", "-2"), "--batch");
        Assert.IsFalse(File.Exists(output), "nothing is written");
    }

    [TestMethod]
    public void UnknownBenchmarkIsNamed()
    {
        var result = CliHost.Run("bench", "no-such-bench", "--iterations", "3");
        AssertOneLineFailure(result, "unknown benchmark 'no-such-bench'");
    }
}
