using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Onnx;
using TorchSharp;
using Wsss.Engine;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Onnx;
using static TorchSharp.torch;

namespace Wsss.Tests.Onnx;

/// <summary>
/// SegmentationModel.ExportOnnx against TorchSharp: each exportable backbone with random weights (small widths and
/// images, to stay fast) is exported, loaded by ONNX Runtime's CPU session with every graph optimisation on, and run on
/// five images of different sizes, odd and even (TensorFlow 'same' padding is asymmetric exactly for even sizes, so both
/// paths of the graph's padding arithmetic run). The probabilities must be within 1e-4 of Predict's single-scale ones
/// and the argmax must agree on at least 99.9 % of the pixels.
/// </summary>
[TestClass]
public sealed class OnnxExportTests
{
    private static readonly (int Height, int Width)[] Sizes = [(33, 47), (40, 40), (57, 31), (64, 50), (29, 76)];

    [TestMethod]
    public void MobileNetV1_OnnxRuntimeMatchesTorchSharp_OnFiveImageSizes()
    {
        using var model = RandomNetworks.Model(new MobileNetV1(0.25), BackboneKind.MobileNetV1, 0.25);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("mobilenet.onnx");
        model.ExportOnnx(path);
        AssertMatches(model, path, "MobileNetV1 0.25");

        // The strided layers (conv1, conv_dw_2, conv_dw_4; at output stride 8 conv_dw_6 and conv_dw_12 keep stride 1 and
        // dilate what follows) pad by a size-dependent amount, computed in the graph; the stride-1 layers' padding is
        // constant and sits in the Conv node.
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        Assert.AreEqual(3, graph.Node.Count(n => n.OpType == "Pad"), "one Pad per strided layer");
        var pads = graph.Node.Where(n => n.OpType == "Pad").Select(p => graph.Node.Single(c => c.Input.Count > 0 && c.Input[0] == p.Output[0]).Name).ToArray();
        CollectionAssert.AreEqual(new[] { "backbone.conv1", "backbone.conv_dw_2", "backbone.conv_dw_4" }, pads);
        Assert.IsTrue(graph.Node.Where(n => n.OpType == "Conv").All(n => n.Attribute.Single(a => a.Name == "pads").Ints.Distinct().Count() == 1), "the Conv nodes pad symmetrically");
        Assert.AreEqual(0, graph.Node.Count(n => n.OpType == "BatchNormalization"), "MobileNetV1's frozen BatchNorm is folded into its convolutions");
        var dilations = graph.Node.Where(n => n.OpType == "Conv" && n.Name.StartsWith("backbone.conv_dw_", StringComparison.Ordinal))
            .ToDictionary(n => n.Name, n => n.Attribute.Single(a => a.Name == "dilations").Ints[0]);
        Assert.AreEqual(1, dilations["backbone.conv_dw_6"]);
        Assert.AreEqual(2, dilations["backbone.conv_dw_7"]);
        Assert.AreEqual(2, dilations["backbone.conv_dw_12"]);
        Assert.AreEqual(4, dilations["backbone.conv_dw_13"]);
    }

    [TestMethod]
    public void ResNet50_OnnxRuntimeMatchesTorchSharp_OnFiveImageSizes()
    {
        using var model = RandomNetworks.Model(new ResNet50(), BackboneKind.ResNet50);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("resnet50.onnx");
        model.ExportOnnx(path);
        AssertMatches(model, path, "ResNet-50");
        AssertResNetLayout(path, outputStride: 8, [3, 4, 6, 3]);
    }

    [TestMethod]
    public void ResNet18_OnnxRuntimeMatchesTorchSharp_OnFiveImageSizes()
    {
        using var model = RandomNetworks.Model(new ResNet18(), BackboneKind.ResNet18);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("resnet18.onnx");
        model.ExportOnnx(path);
        AssertMatches(model, path, "ResNet-18");
        AssertResNetLayout(path, outputStride: 8, ResNet18.TorchvisionBlocks);
    }

    [TestMethod]
    public void ResNet18_MLNetLayout_WithItsExtraLayer4Block_AndItsNormalisation_OnnxRuntimeMatchesTorchSharp()
    {
        // ML.NET's ResNet-18 ONNX file has a third block in layer4 and takes 0-255 RGB minus the mean pixel. The model goes
        // through its file first: SegmentationModel.Load finds the extra block from the tensor names.
        using var dir = TestData.NewTempDirectory();
        using (var trained = RandomNetworks.Model(new ResNet18(blocks: ResNet18.MLNetBlocks, normalization: OnnxWeights.ResNet18Normalization), BackboneKind.ResNet18))
        {
            trained.Save(dir.File("resnet18-mlnet.wsss"));
        }

        using var model = SegmentationModel.Load(dir.File("resnet18-mlnet.wsss"));
        CollectionAssert.AreEqual(ResNet18.MLNetBlocks.ToArray(), ((ResNet)model.Network.Backbone).Blocks.ToArray());
        Assert.AreEqual(OnnxWeights.ResNet18Normalization.ToJson(), model.Metadata.Normalization.ToJson());
        string path = dir.File("resnet18-mlnet.onnx");
        model.ExportOnnx(path);
        AssertMatches(model, path, "ResNet-18 (ML.NET layout)");
        AssertResNetLayout(path, outputStride: 8, ResNet18.MLNetBlocks);
    }

    [TestMethod]
    [DataRow(16, true)]
    [DataRow(32, false)]
    public void ResNet18_AtOtherOutputStrides_FrozenOrNotBatchNorm_OnnxRuntimeMatchesTorchSharp(int outputStride, bool frozenBatchNorm)
    {
        // A BatchNorm that is not frozen runs as such in forward (evaluation mode) and is folded by the exporter.
        using var model = RandomNetworks.Model(new ResNet18(frozenBatchNorm, outputStride), BackboneKind.ResNet18);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File($"resnet18-os{outputStride}.onnx");
        model.ExportOnnx(path);
        AssertMatches(model, path, $"ResNet-18, output stride {outputStride}, BatchNorm {(frozenBatchNorm ? "frozen" : "trained")}");
        AssertResNetLayout(path, outputStride, ResNet18.TorchvisionBlocks);
    }

    [TestMethod]
    public void ResNet101_AtOutputStride16_OnnxRuntimeMatchesTorchSharp_OnFiveImageSizes()
    {
        // ResNet-50 runs at output stride 8 above; ResNet-101's bottlenecks take the other dilation pattern (layer4 only).
        using var model = RandomNetworks.Model(new ResNet101(outputStride: 16), BackboneKind.ResNet101, prepare: DampResidualBranches);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("resnet101.onnx");
        model.ExportOnnx(path);
        AssertMatches(model, path, "ResNet-101, output stride 16");
        AssertResNetLayout(path, outputStride: 16, [3, 4, 23, 3]);
    }

    [TestMethod]
    public void ResNet38_OnnxRuntimeMatchesTorchSharp_OnFiveImageSizes()
    {
        using var model = RandomNetworks.Model(new ResNet38(), BackboneKind.ResNet38);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("resnet38.onnx");
        model.ExportOnnx(path);
        AssertMatches(model, path, "ResNet-38");
    }

    [TestMethod]
    public void SmallCnn_OnnxRuntimeMatchesTorchSharp_OnFiveImageSizes()
    {
        using var model = RandomNetworks.Model(new SmallCnn(), BackboneKind.SmallCnn);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("smallcnn.onnx");
        model.ExportOnnx(path);
        AssertMatches(model, path, "SmallCnn");
    }

    [TestMethod]
    public void InputFormats_BgraPlanesAndNormalizedInput_GiveTheRgbPlanesProbabilities_WithAFixedBatch()
    {
        using var model = RandomNetworks.Model(new MobileNetV1(0.25), BackboneKind.MobileNetV1, 0.25);
        using var dir = TestData.NewTempDirectory();
        var images = new[] { RandomNetworks.Image(35, 42, 1), RandomNetworks.Image(35, 42, 2) };
        var expected = images.Select(im => model.Predict(im, new PredictionOptions { IncludeProbabilities = true }).Probabilities!).ToArray();

        string bgra = dir.File("bgra.onnx");
        model.ExportOnnx(bgra, new OnnxExportOptions { InputFormat = OnnxInputFormat.BgraPlanes, BatchSize = 2 });
        string normalized = dir.File("normalized.onnx");
        model.ExportOnnx(normalized, new OnnxExportOptions { InputFormat = OnnxInputFormat.Normalized, BatchSize = 2 });

        using (var session = Session(bgra))
        {
            Assert.AreEqual(2, session.InputMetadata[OnnxExportOptions.InputName].Dimensions[0], "fixed batch");
            Assert.AreEqual(4, session.InputMetadata[OnnxExportOptions.InputName].Dimensions[1], "B, G, R, A planes");
            var input = images.SelectMany(im => RandomNetworks.Planes(im, bgra: true)).ToArray();
            float[] output = Run(session, input, [2, 4, 35, 42])[OnnxExportOptions.ProbabilitiesName];
            AssertBatch(expected, output, "BGRA planes");
        }

        using (var session = Session(normalized))
        {
            float[] input;
            using (NewDisposeScope())
            {
                input = ImageTensors.ToTensor(images, model.Metadata.Normalization, Devices.Cpu).ToArrayFast<float>();
            }

            float[] output = Run(session, input, [2, 3, 35, 42])[OnnxExportOptions.ProbabilitiesName];
            AssertBatch(expected, output, "normalised input");
        }
    }

    [TestMethod]
    public void ClassActivationMaps_AreTheModelsScaleOneCams()
    {
        using var model = RandomNetworks.Model(new SmallCnn(), BackboneKind.SmallCnn);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("cams.onnx");
        model.ExportOnnx(path, new OnnxExportOptions { IncludeClassActivationMaps = true });
        using var session = Session(path);
        CollectionAssert.AreEqual(new[] { OnnxExportOptions.ProbabilitiesName, OnnxExportOptions.ClassActivationMapsName }, session.OutputMetadata.Keys.ToArray());
        var image = RandomNetworks.Image(37, 52, 4);
        var outputs = Run(session, RandomNetworks.Planes(image, bgra: false), [1, 3, 37, 52]);
        float[] expected = model.ClassActivationMaps(image, [0, 1, 2], scales: []);
        float[] actual = outputs[OnnxExportOptions.ClassActivationMapsName];
        Assert.HasCount(expected.Length, actual);
        Assert.IsTrue(expected.Max() > 0.99f, "normalised CAMs reach 1");
        float maxDiff = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.IsLessThanOrEqualTo(1e-4f, maxDiff, $"CAM difference {maxDiff}");
    }

    [TestMethod]
    public void Metadata_NamesTheClassesNormalisationAndInput_AndTheOpsetIsTheRequestedOne()
    {
        using var model = RandomNetworks.Model(new SmallCnn(), BackboneKind.SmallCnn);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("meta.onnx");
        model.ExportOnnx(path, new OnnxExportOptions { Opset = 18 });
        using var session = Session(path);
        var meta = session.ModelMetadata.CustomMetadataMap;
        CollectionAssert.AreEqual(RandomNetworks.ClassNames, JsonSerializer.Deserialize<string[]>(meta["wsss.class_names"]));
        Assert.AreEqual("wsss-rrm-onnx", meta["wsss.format"]);
        Assert.AreEqual("SmallCnn", meta["wsss.backbone"]);
        Assert.AreEqual("RgbPlanes", meta["wsss.input_format"]);
        Assert.AreEqual(model.Metadata.Normalization.ToJson(), meta["wsss.input_normalization"]);
        Assert.AreEqual("probabilities", meta["wsss.outputs"]);
        Assert.AreEqual("Wsss", session.ModelMetadata.ProducerName);

        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.AreEqual(18, proto.OpsetImport.Single().Version);
        Assert.AreEqual(8, proto.IrVersion);
        var input = proto.Graph.Input.Single();
        CollectionAssert.AreEqual(new[] { "batch", "", "height", "width" }, input.Type.TensorType.Shape.Dim.Select(d => d.DimParam).ToArray(), "dynamic batch, height and width");
        Assert.AreEqual(3, input.Type.TensorType.Shape.Dim[1].DimValue);
        Assert.AreEqual(4, proto.Graph.Output.Single().Type.TensorType.Shape.Dim[1].DimValue, "background + 3 classes");
    }

    [TestMethod]
    public void EveryOpset_FromTheLowestToTheHighest_RunsWithTheSameProbabilities()
    {
        // ReduceMax takes its axes as an attribute before opset 18 and as an input from 18 on.
        using var model = RandomNetworks.Model(new SmallCnn(), BackboneKind.SmallCnn);
        using var dir = TestData.NewTempDirectory();
        var image = RandomNetworks.Image(30, 41, 8);
        float[] expected = model.Predict(image, new PredictionOptions { IncludeProbabilities = true }).Probabilities!;
        foreach (int opset in new[] { OnnxExportOptions.MinimumOpset, 18, 19, 20, OnnxExportOptions.MaximumOpset })
        {
            string path = dir.File($"opset{opset}.onnx");
            model.ExportOnnx(path, new OnnxExportOptions { Opset = opset });
            using var session = Session(path);
            float[] actual = Run(session, RandomNetworks.Planes(image, bgra: false), [1, 3, 30, 41])[OnnxExportOptions.ProbabilitiesName];
            Assert.IsLessThanOrEqualTo(1e-4f, expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max(), $"opset {opset}");
        }
    }

    [TestMethod]
    public void Export_ReplacesAnExistingFileAtomically_AndLeavesNoTemporaryFile()
    {
        using var model = RandomNetworks.Model(new SmallCnn(), BackboneKind.SmallCnn);
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("model.onnx");
        File.WriteAllText(path, "old contents");
        model.ExportOnnx(path);
        CollectionAssert.AreEqual(new[] { "model.onnx" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName).ToArray());
        Assert.AreEqual("Wsss", ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).ProducerName);

        // A failed export (bad options) leaves the previous file as it was.
        byte[] before = File.ReadAllBytes(path);
        Assert.Throws<ArgumentException>(() => model.ExportOnnx(path, new OnnxExportOptions { Opset = 16 }));
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
    }

    [TestMethod]
    public void Options_OutOfRange_AreRejectedWithTheOptionsName()
    {
        using var model = RandomNetworks.Model(new SmallCnn(), BackboneKind.SmallCnn);
        using var dir = TestData.NewTempDirectory();
        var e1 = Assert.Throws<ArgumentException>(() => model.ExportOnnx(dir.File("a.onnx"), new OnnxExportOptions { Opset = 16 }));
        StringAssert.Contains(e1.Message, "Opset must be 17 to 21");
        var e2 = Assert.Throws<ArgumentException>(() => model.ExportOnnx(dir.File("b.onnx"), new OnnxExportOptions { BatchSize = 0 }));
        StringAssert.Contains(e2.Message, "BatchSize");
        Assert.IsEmpty(Directory.GetFiles(dir.Path));
    }

    [TestMethod]
    public void Export_OfABackboneWithoutExporter_NamesItAndTheExportableOnes()
    {
        using var model = new SegmentationModel(new RrmNetwork(new PoolingBackbone(), 2), RandomNetworks.Metadata(BackboneKind.SmallCnn, 1.0, ["a", "b"]), Devices.Cpu);
        using var dir = TestData.NewTempDirectory();
        var e = Assert.Throws<NotSupportedException>(() => model.ExportOnnx(dir.File("x.onnx")));
        StringAssert.Contains(e.Message, nameof(PoolingBackbone));
        foreach (string supported in new[] { "SmallCnn", "MobileNetV1", "ResNet38", "ResNet18", "ResNet50", "ResNet101" })
        {
            StringAssert.Contains(e.Message, supported);
        }

        Assert.IsEmpty(Directory.GetFiles(dir.Path), "nothing is written");
    }

    private static InferenceSession Session(string path) =>
        new(path, new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = 2 });

    private static Dictionary<string, float[]> Run(InferenceSession session, float[] input, long[] shape)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        var names = session.OutputMetadata.Keys.ToArray();
        using var outputs = session.Run(runOptions, [OnnxExportOptions.InputName], [value], names);
        return names.Zip(outputs).ToDictionary(p => p.First, p => p.Second.GetTensorDataAsSpan<float>().ToArray());
    }

    private static void AssertMatches(SegmentationModel model, string path, string what)
    {
        using var session = Session(path);
        float worst = 0;
        long agree = 0, pixels = 0;
        int k = model.ClassNames.Count + 1;
        var classes = new HashSet<int>();
        for (int i = 0; i < Sizes.Length; i++)
        {
            var (h, w) = Sizes[i];
            var image = RandomNetworks.Image(h, w, 10 + i);
            float[] expected = model.Predict(image, new PredictionOptions { IncludeProbabilities = true }).Probabilities!;
            float[] actual = Run(session, RandomNetworks.Planes(image, bgra: false), [1, 3, h, w])[OnnxExportOptions.ProbabilitiesName];
            Assert.HasCount(expected.Length, actual, $"{what}, image {h}x{w}: output size");
            worst = Math.Max(worst, expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max());
            var (same, count) = RandomNetworks.ArgmaxAgreement(expected, actual, k);
            agree += same;
            pixels += count;
            classes.UnionWith(RandomNetworks.Argmax(expected, k));
        }

        Assert.IsGreaterThan(1, classes.Count, $"{what}: every pixel of every image got one class, which tests little");

        double agreement = (double)agree / pixels;
        Console.WriteLine($"{what}: max |p_onnx - p_torchsharp| = {worst:E2}, argmax agreement {agreement:P3} over {pixels} pixels of {Sizes.Length} images");
        Assert.IsLessThanOrEqualTo(1e-4f, worst, $"{what}: probability difference");
        Assert.IsGreaterThanOrEqualTo(0.999, agreement, $"{what}: argmax agreement");
    }

    /// <summary>
    /// Halves the last BatchNorm of every bottleneck (bn3) before the calibration (the idea of torchvision's
    /// zero_init_residual, short of zero). With plain random weights ResNet-101's logits reach about 40 and saturate the
    /// softmax, where float32 rounding alone moves a probability by 1e-4 (TorchSharp in float32 against itself in float64
    /// differs by that much); halved, its probabilities spread as ResNet-50's do and the 1e-4 bound tests the export again.
    /// </summary>
    private static void DampResidualBranches(Backbone backbone)
    {
        using var half = 0.5.ToScalar();
        using var noGrad = no_grad();
        foreach (var (name, module) in backbone.named_modules())
        {
            // The bottleneck's last BatchNorm ("layer3.12.bn3").
            if (module is Wsss.Model.Layers.FreezableBatchNorm2d bn && name.StartsWith("layer", StringComparison.Ordinal) && name.EndsWith(".bn3", StringComparison.Ordinal))
            {
                bn.Weight.mul_(half);
                bn.Bias.mul_(half);
            }
        }
    }

    /// <summary>
    /// The exported ResNet has every block of <paramref name="blocks"/> and no more, no BatchNormalization node (all
    /// folded), and torchvision's replace_stride_with_dilation for <paramref name="outputStride"/>: a stage below the output
    /// stride has stride 1, its first block keeps the previous dilation and the other blocks double it.
    /// </summary>
    private static void AssertResNetLayout(string path, int outputStride, IReadOnlyList<int> blocks)
    {
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        Assert.AreEqual(0, graph.Node.Count(n => n.OpType == "BatchNormalization"), "BatchNorm is folded into the convolutions");
        var convs = graph.Node.Where(n => n.OpType == "Conv").ToDictionary(n => n.Name);
        bool bottleneck = convs.ContainsKey("backbone.layer1.0.conv3");
        string strided = bottleneck ? "conv2" : "conv1";
        long Ints(string node, string attribute) => convs[node].Attribute.Single(a => a.Name == attribute).Ints[0];

        long stride = 4, dilation = 1;
        for (int s = 0; s < 4; s++)
        {
            long stageStride = s == 0 ? 1 : 2;
            long firstDilation = dilation;
            if (stageStride > 1 && stride >= outputStride)
            {
                dilation *= 2;
                stageStride = 1;
            }
            else
            {
                stride *= stageStride;
            }

            Assert.IsFalse(convs.ContainsKey($"backbone.layer{s + 1}.{blocks[s]}.conv1"), $"layer{s + 1} has {blocks[s]} blocks");
            for (int b = 0; b < blocks[s]; b++)
            {
                string block = $"backbone.layer{s + 1}.{b}";
                Assert.AreEqual(b == 0 ? stageStride : 1, Ints($"{block}.{strided}", "strides"), $"{block}.{strided} stride at output stride {outputStride}");
                Assert.AreEqual(b == 0 ? firstDilation : dilation, Ints($"{block}.{strided}", "dilations"), $"{block}.{strided} dilation at output stride {outputStride}");
            }
        }

        Assert.AreEqual(outputStride, stride, "the strides multiply to the output stride");
    }

    private static void AssertBatch(float[][] expected, float[] actual, string what)
    {
        float[] joined = expected.SelectMany(e => e).ToArray();
        Assert.HasCount(joined.Length, actual, what);
        float worst = joined.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.IsLessThanOrEqualTo(1e-4f, worst, $"{what}: probability difference");
    }

    /// <summary>A backbone of the user's own (average pooling to stride 8): no ONNX exporter.</summary>
    private sealed class PoolingBackbone : Backbone
    {
        public PoolingBackbone()
            : base(nameof(PoolingBackbone))
        {
        }

        public override BackboneKind Kind => BackboneKind.SmallCnn;

        public override long OutputChannels => 3;

        public override InputNormalization Normalization => InputNormalization.ImageNet;

        public override Tensor forward(Tensor input) => nn.functional.avg_pool2d(input, 8, 8, ceil_mode: true);
    }
}
