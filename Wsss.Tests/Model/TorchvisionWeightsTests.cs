using System.Collections;
using System.Diagnostics;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp.PyBridge;
using Wsss.Model;
using Wsss.Model.Serialization;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Model;

/// <summary>
/// torchvision checkpoints: state_dicts with random weights written at test time by Debian's python3-torch and
/// python3-torchvision (Fixtures/torchvision/write_resnets.py; nothing is committed or downloaded), loaded through
/// TorchSharp.PyBridge, and both frameworks' features of the same input compared. The bad-file tests write their
/// .pth files with PyBridge's own pickler and need no Python.
/// </summary>
[TestClass]
public sealed class TorchvisionWeightsTests
{
    private const string Python = "/usr/bin/python3";
    private static TempDirectory? files;
    private static string? unavailable;

    [ClassInitialize]
    public static void WriteCheckpoints(TestContext context)
    {
        _ = context;
        if (!File.Exists(Python))
        {
            unavailable = $"{Python} is not installed (Debian's python3-torch and python3-torchvision write the checkpoints).";
            return;
        }

        files = TestData.NewTempDirectory();
        string script = Path.Combine(TestData.RepoRoot, "Wsss.Tests", "Fixtures", "torchvision", "write_resnets.py");
        var start = new ProcessStartInfo(Python) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(files.Path);
        using var process = Process.Start(start)!;
        string stderr = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            string last = stderr.Trim().Split('\n').LastOrDefault() ?? string.Empty;
            unavailable = last.Contains("ModuleNotFoundError", StringComparison.Ordinal)
                ? $"{Python} lacks a module ({last.Trim()}): apt-get install python3-torch python3-torchvision."
                : $"{script} failed (exit {process.ExitCode}): {last.Trim()}";
        }
    }

    [ClassCleanup]
    public static void DeleteCheckpoints() => files?.Dispose();

    private static string Checkpoint(string name)
    {
        if (unavailable is not null)
        {
            Assert.Inconclusive(unavailable);
        }

        return files!.File(name);
    }

    private static float[] ReadFloats(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    [TestMethod]
    [DataRow(BackboneKind.ResNet18, 32)]
    [DataRow(BackboneKind.ResNet50, 32)]
    [DataRow(BackboneKind.ResNet50, 8)]
    [DataRow(BackboneKind.ResNet101, 8)]
    public void Features_AgreeWithTorchvision(BackboneKind kind, int outputStride)
    {
        string arch = kind.ToString().ToLowerInvariant();
        string pth = Checkpoint(arch + ".pth");
        float[] input = ReadFloats(files!.File("input.bin"));
        float[] reference = ReadFloats(files.File($"{arch}_os{outputStride}.bin"));
        using var net = TorchvisionWeights.Load(kind, pth, outputStride);
        net.eval();
        Assert.AreEqual(kind, net.Kind);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var features = net.forward(tensor(input, [1, 3, 64, 64]));
        long side = 64 / outputStride;
        CollectionAssert.AreEqual(new long[] { 1, net.OutputChannels, side, side }, features.shape);
        float[] ours = Floats(features);
        Assert.HasCount(reference.Length, ours);
        double scale = reference.Max(v => Math.Abs(v));
        Assert.IsGreaterThan(0.01, scale, "the reference features are not all zero");
        double maxDiff = ours.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        Console.WriteLine($"{kind} at output stride {outputStride}: max |TorchSharp - PyTorch| {maxDiff:E2} of max |feature| {scale:F3}: relative {maxDiff / scale:E2}");
        Assert.IsLessThanOrEqualTo(1e-4, maxDiff / scale);
    }

    [TestMethod]
    public void Trainer_TakesAPthCheckpointByItsExtension()
    {
        string pth = Checkpoint("resnet18.pth");
        using var expected = TorchvisionWeights.Load(BackboneKind.ResNet18, pth);
        using var network = Wsss.Training.RrmTrainer.BuildNetwork(
            new Wsss.Training.RrmTrainingOptions { Backbone = BackboneKind.ResNet18, PretrainedWeightsPath = pth }, 2);
        Assert.AreSame(InputNormalization.ImageNet, network.Backbone.Normalization);
        CollectionAssert.AreEqual(ResNet18.TorchvisionBlocks.ToArray(), ((ResNet)network.Backbone).Blocks.ToArray());
        var ours = network.Backbone.state_dict();
        foreach (var (name, value) in expected.state_dict())
        {
            Assert.IsTrue(value.allclose(ours[name], 0, 0), name);
        }

        var e = Assert.ThrowsExactly<ArgumentException>(() => Wsss.Training.RrmTrainer.BuildNetwork(
            new Wsss.Training.RrmTrainingOptions { Backbone = BackboneKind.MobileNetV1, PretrainedWeightsPath = pth }, 2));
        StringAssert.Contains(e.Message, "torchvision state_dict");
    }

    /// <summary>A ResNet-18 state dict written by PyBridge's pickler, after <paramref name="edit"/>.</summary>
    private static string WriteResNet18(TempDirectory dir, Action<Hashtable> edit)
    {
        using var net = new ResNet18();
        var table = new Hashtable();
        foreach (var (name, value) in net.state_dict())
        {
            table[name] = value.detach().clone();
        }

        edit(table);
        string path = dir.File("edited.pth");
        PyTorchPickler.PickleStateDict(path, table);
        foreach (var t in table.Values.OfType<Tensor>())
        {
            t.Dispose();
        }

        return path;
    }

    [TestMethod]
    public void MissingTensor_NamesTheTensorAndTheFile()
    {
        using var dir = TestData.NewTempDirectory();
        string path = WriteResNet18(dir, t => t.Remove("layer2.0.downsample.1.running_var"));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TorchvisionWeights.Load(BackboneKind.ResNet18, path));
        Console.WriteLine(e.Message);
        StringAssert.StartsWith(e.Message, $"{path}: ");
        StringAssert.Contains(e.Message, "'layer2.0.downsample.1.running_var' is missing (expected shape (128))");
    }

    [TestMethod]
    public void MisShapedTensor_NamesTheTensorAndTheFile()
    {
        using var dir = TestData.NewTempDirectory();
        string path = WriteResNet18(dir, t => t["layer3.1.conv2.weight"] = zeros(256, 256, 1, 1));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TorchvisionWeights.Load(BackboneKind.ResNet18, path));
        Console.WriteLine(e.Message);
        StringAssert.StartsWith(e.Message, $"{path}: ");
        StringAssert.Contains(e.Message, "'layer3.1.conv2.weight' has shape (256, 256, 1, 1) but (256, 256, 3, 3) is expected");
    }

    [TestMethod]
    public void AnotherArchitecture_NamesTheFirstTensorThatDiffers()
    {
        // A ResNet-18 checkpoint loaded as ResNet-50: the message starts with the first tensor in the network's order
        // and does not list all ~260 differences.
        using var dir = TestData.NewTempDirectory();
        string path = WriteResNet18(dir, _ => { });
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TorchvisionWeights.Load(BackboneKind.ResNet50, path));
        Console.WriteLine(e.Message);
        StringAssert.StartsWith(e.Message, $"{path}: not a torchvision ResNet50 state_dict: ");
        StringAssert.Contains(e.Message, "'layer1.0.conv1.weight' has shape (64, 64, 3, 3) but (64, 64, 1, 1) is expected");
        Assert.IsLessThan(1000, e.Message.Length, "the message is capped");
    }

    [TestMethod]
    public void NotACheckpoint_IsAFileFormatErrorNamingTheFile()
    {
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("weights.pth");
        File.WriteAllText(path, "not a zip file");
        var e = Assert.ThrowsExactly<FileFormatException>(() => TorchvisionWeights.Load(BackboneKind.ResNet50, path));
        Console.WriteLine(e.Message);
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "not a PyTorch state_dict file");
    }
}
