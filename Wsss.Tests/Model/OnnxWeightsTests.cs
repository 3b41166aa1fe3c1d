using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Onnx;
using Wsss.Imaging;
using Wsss.Model;
using Wsss.Model.Serialization;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Model;

/// <summary>
/// The import of ML.NET's ResNet-18 ONNX file (package Microsoft.ML.DnnImageFeaturizer.ResNet18, brought into the NuGet
/// cache by the test project's PackageDownload): the imported network against ONNX Runtime running the same file, the
/// normalisation against the package's preprocessing model, and the errors for files that are not that network.
/// </summary>
[TestClass]
public sealed class OnnxWeightsTests
{
    private static readonly string[] FixtureImages = ["cat_224.png", "dog_224.png", "eagle_224.png", "giraffe_224.png"];

    private static string RequireResNet18Onnx() =>
        OnnxWeights.FindResNet18() ?? Inconclusive<string>(
            $"ResNet18.onnx not found (NuGet package {OnnxWeights.ResNet18PackageId} {OnnxWeights.ResNet18PackageVersion} is not in the NuGet cache: restore Wsss.Tests).");

    private static T Inconclusive<T>(string reason)
    {
        Assert.Inconclusive(reason);
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>RGB image -> normalised planes in R, G, B order.</summary>
    private static float[] Planes(RgbImage image, InputNormalization normalization)
    {
        int plane = image.Height * image.Width;
        var chw = new float[3 * plane];
        for (int c = 0; c < 3; c++)
        {
            for (int p = 0; p < plane; p++)
            {
                chw[(c * plane) + p] = normalization.Normalize(image.Pixels[(p * 3) + c], c);
            }
        }

        return chw;
    }

    [TestMethod]
    public void ResNet18_PooledFeatures_AgreeWithOnnxRuntime()
    {
        string onnx = RequireResNet18Onnx();
        string fixtures = TestData.RequireShared("fixtures", "mobilenet");
        // Output stride 32 is the file's own network (no dilation), so the features must be the same function.
        using var net = OnnxWeights.LoadResNet18(onnx, outputStride: 32);
        net.eval();
        using var session = new InferenceSession(onnx);
        string inputName = session.InputMetadata.Keys.Single();
        double worst = 0;
        foreach (string name in FixtureImages)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var image = ImageCodec.Decode(Path.Combine(fixtures, name));
            Assert.AreEqual(224, image.Height);
            float[] rgb = Planes(image, net.Normalization);
            var ours = Floats(nn.functional.adaptive_avg_pool2d(net.forward(tensor(rgb, [1, 3, 224, 224])), [1, 1]));

            // The file itself takes B, G, R planes: the same values with the planes swapped.
            int plane = 224 * 224;
            var bgr = new float[rgb.Length];
            for (int c = 0; c < 3; c++)
            {
                Array.Copy(rgb, (2 - c) * plane, bgr, c * plane, plane);
            }

            using var results = session.Run([NamedOnnxValue.CreateFromTensor(inputName, new DenseTensor<float>(bgr, [1, 3, 224, 224]))]);
            float[] reference = results.Single().AsEnumerable<float>().ToArray();
            Assert.HasCount(512, reference);
            Assert.HasCount(512, ours);
            double scale = reference.Max(v => Math.Abs(v));
            Assert.IsGreaterThan(0.1, scale, $"{name}: the features are not all zero");
            double maxDiff = ours.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
            Console.WriteLine($"{name}: max |ours - ONNX Runtime| {maxDiff:E2} of max |feature| {scale:F3}: relative {maxDiff / scale:E2}");
            Assert.IsLessThanOrEqualTo(1e-4, maxDiff / scale, $"{name}: pooled features differ from ONNX Runtime's");
            worst = Math.Max(worst, maxDiff / scale);
        }

        Console.WriteLine($"worst relative difference over the {FixtureImages.Length} images: {worst:E2}");
    }

    [TestMethod]
    public void DilatedResNet18_KeepsThePooledFeaturesOfTheOriginal()
    {
        // Dilation (output strides 16 and 8) is not exact, but it keeps every receptive field's extent, so the image's
        // pooled description must stay close to the original's; a wrong dilation or padding rule scrambles it.
        string onnx = RequireResNet18Onnx();
        string fixtures = TestData.RequireShared("fixtures", "mobilenet");
        using var original = OnnxWeights.LoadResNet18(onnx, outputStride: 32);
        original.eval();
        foreach (int outputStride in new[] { 16, 8 })
        {
            using var dilated = OnnxWeights.LoadResNet18(onnx, outputStride: outputStride);
            dilated.eval();
            Assert.AreEqual(outputStride, dilated.OutputStride);
            foreach (string name in FixtureImages)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var input = tensor(Planes(ImageCodec.Decode(Path.Combine(fixtures, name)), original.Normalization), [1, 3, 224, 224]);
                var features = dilated.forward(input);
                CollectionAssert.AreEqual(new long[] { 1, 512, 224 / outputStride, 224 / outputStride }, features.shape);
                var a = nn.functional.adaptive_avg_pool2d(original.forward(input), [1, 1]).flatten();
                var b = nn.functional.adaptive_avg_pool2d(features, [1, 1]).flatten();
                double cosine = nn.functional.cosine_similarity(a, b, 0).item<float>();
                Console.WriteLine($"{name} at output stride {outputStride}: cosine similarity of pooled features {cosine:F3}");
                Assert.IsGreaterThan(0.85, cosine, $"{name} at output stride {outputStride}");
            }
        }
    }

    [TestMethod]
    public void ResNet18Normalization_IsThePreprocessingModelsChannelOrderAndMeans()
    {
        string onnx = RequireResNet18Onnx();
        string prep = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(onnx)!)!, "ResNetPrepOnnx", "ResNetPreprocess.onnx");
        var model = OnnxWeights.Read(prep);
        // Split(RGB) -> Concat(B, G, R) -> Sub(MeanImage): the file wants BGR planes minus a mean image, 0-255.
        CollectionAssert.AreEqual(new[] { "Split", "Concat", "Sub" }, model.Graph.Node.Select(n => n.OpType).ToArray());
        var split = model.Graph.Node[0];
        var concat = model.Graph.Node[1];
        CollectionAssert.AreEqual(split.Output.Reverse().ToArray(), concat.Input.ToArray(), "Concat takes the planes in reverse order");
        var (mean, shape) = OnnxWeights.Initializers(model)[model.Graph.Node[2].Input[1]];
        CollectionAssert.AreEqual(new long[] { 1, 3, 224, 224 }, shape);

        var normalization = OnnxWeights.ResNet18Normalization;
        Assert.AreEqual(1.0, normalization.Scale);
        int plane = 224 * 224;
        for (int bgr = 0; bgr < 3; bgr++)
        {
            var values = mean.AsSpan(bgr * plane, plane).ToArray();
            int rgb = 2 - bgr;
            Assert.AreEqual(values.Average(v => (double)v), normalization.Mean[rgb], 1e-9, $"mean of plane {bgr}");
            Assert.AreEqual(1.0, normalization.Std[rgb]);
            double deviation = values.Max(v => Math.Abs(v - normalization.Mean[rgb]));
            Console.WriteLine($"plane {bgr}: mean {normalization.Mean[rgb]:F4}, largest deviation of the mean image {deviation:F2}");
            Assert.IsLessThan(13.0, deviation, "the documented bound");
        }
    }

    [TestMethod]
    public void MisShapedInitializer_NamesTheTensorAndTheFile()
    {
        string onnx = RequireResNet18Onnx();
        var model = OnnxWeights.Read(onnx);
        // The first convolution of layer1.0 (after the stem's MaxPool) gets a 1x1 kernel.
        var maxPool = model.Graph.Node.First(n => n.OpType == "MaxPool");
        var conv = model.Graph.Node.First(n => n.OpType == "Conv" && n.Input[0] == maxPool.Output[0]);
        var weight = model.Graph.Initializer.Single(t => t.Name == conv.Input[1]);
        weight.Dims.Clear();
        weight.Dims.Add([64, 64, 1, 1]);
        weight.FloatData.Clear();
        weight.FloatData.Add(new float[64 * 64]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => OnnxWeights.ResNet18Weights(model, "edited.onnx").Weights);
        Console.WriteLine(e.Message);
        StringAssert.StartsWith(e.Message, "edited.onnx: ");
        StringAssert.Contains(e.Message, $"'{weight.Name}'");
        StringAssert.Contains(e.Message, "layer1.0.conv1");
    }

    [TestMethod]
    public void MissingInitializer_NamesTheTensorAndTheFile()
    {
        string onnx = RequireResNet18Onnx();
        var model = OnnxWeights.Read(onnx);
        var stemNorm = model.Graph.Node.First(n => n.OpType == "BatchNormalization");
        string runningVar = stemNorm.Input[4];
        model.Graph.Initializer.Remove(model.Graph.Initializer.Single(t => t.Name == runningVar));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => OnnxWeights.ResNet18Weights(model, "truncated.onnx").Weights);
        Console.WriteLine(e.Message);
        StringAssert.StartsWith(e.Message, "truncated.onnx: ");
        StringAssert.Contains(e.Message, $"initializer '{runningVar}' (bn1.running_var) is missing");
    }

    [TestMethod]
    public void AnotherNetwork_NamesTheFirstNodeThatDiffers()
    {
        // A graph with a 3x3 stem instead of ResNet's 7x7: the walk stops at that node.
        using var dir = TestData.NewTempDirectory();
        var model = new ModelProto { IrVersion = 3, Graph = new GraphProto { Name = "tiny" } };
        model.Graph.Input.Add(new ValueInfoProto { Name = "image" });
        var kernel = new TensorProto { Name = "k", DataType = (int)TensorProto.Types.DataType.Float };
        kernel.Dims.Add([8, 3, 3, 3]);
        kernel.FloatData.Add(new float[8 * 3 * 3 * 3]);
        model.Graph.Initializer.Add(kernel);
        var node = new NodeProto { OpType = "Conv", Name = "stem" };
        node.Input.Add(["image", "k"]);
        node.Output.Add("features");
        node.Attribute.Add(new AttributeProto { Name = "kernel_shape", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 3, 3 } });
        model.Graph.Node.Add(node);
        string path = dir.File("tiny.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        var e = Assert.ThrowsExactly<InvalidDataException>(() => OnnxWeights.LoadResNet18(path));
        Console.WriteLine(e.Message);
        StringAssert.StartsWith(e.Message, $"{path}: ");
        StringAssert.Contains(e.Message, "node 'stem' (conv1)");
    }

    [TestMethod]
    public void NotAnOnnxFile_IsAFileFormatErrorNamingTheFile()
    {
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("weights.onnx");
        File.WriteAllBytes(path, [0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
        var e = Assert.ThrowsExactly<FileFormatException>(() => OnnxWeights.LoadResNet18(path));
        StringAssert.Contains(e.Message, path);
        Assert.AreEqual(Path.GetFullPath(path), Path.GetFullPath(e.FilePath!));
    }

    [TestMethod]
    public void FindResNet18_LooksInTheAppFolderFirstThenTheNuGetCache()
    {
        using var app = TestData.NewTempDirectory();
        using var cache = TestData.NewTempDirectory();
        string inCache(string version) => Path.Combine(cache.Path, "microsoft.ml.dnnimagefeaturizer.resnet18", version, "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
        Directory.CreateDirectory(Path.Combine(cache.Path, "microsoft.ml.dnnimagefeaturizer.resnet18", "0.22.0"));
        Directory.CreateDirectory(Path.Combine(cache.Path, "microsoft.ml.dnnimagefeaturizer.resnet18", "0.24.0"));
        var candidates = OnnxWeights.ResNet18Candidates(app.Path, cache.Path).ToList();
        CollectionAssert.AreEqual(
            new[] { Path.Combine(app.Path, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx"), inCache("0.23.1"), inCache("0.24.0"), inCache("0.22.0") },
            candidates);
        CollectionAssert.AreEqual(new[] { candidates[0] }, OnnxWeights.ResNet18Candidates(app.Path, null).ToArray());
    }

    [TestMethod]
    public void Trainer_WithoutAPath_TakesThePackagedWeights()
    {
        string onnx = RequireResNet18Onnx();
        using var expected = OnnxWeights.LoadResNet18(onnx);
        using var network = Wsss.Training.RrmTrainer.BuildNetwork(new Wsss.Training.RrmTrainingOptions { Backbone = BackboneKind.ResNet18 }, 3);
        Assert.AreSame(OnnxWeights.ResNet18Normalization, network.Backbone.Normalization);
        var ours = network.Backbone.state_dict();
        foreach (var (name, value) in expected.state_dict())
        {
            Assert.IsTrue(value.allclose(ours[name], 0, 0), name);
        }

        using var random = Wsss.Training.RrmTrainer.BuildNetwork(
            new Wsss.Training.RrmTrainingOptions { Backbone = BackboneKind.ResNet18, UsePackagedWeights = false }, 3);
        Assert.IsFalse(random.Backbone.state_dict()["conv1.weight"].allclose(expected.state_dict()["conv1.weight"], 0, 0));
        Assert.AreSame(InputNormalization.ImageNet, random.Backbone.Normalization);
    }
}
