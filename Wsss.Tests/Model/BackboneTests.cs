using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using Wsss.Model;
using Wsss.Model.Layers;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Model;

[TestClass]
public sealed class BackboneTests
{
    private static long[] FeatureShape(Backbone backbone, long height, long width)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        backbone.eval();
        var features = backbone.forward(randn([1, 3, height, width]));
        return features.shape;
    }

    [TestMethod]
    public void SmallCnn_OddInput_GivesStride8Features()
    {
        using var net = new SmallCnn();
        CollectionAssert.AreEqual(new long[] { 1, 128, 41, 41 }, FeatureShape(net, 321, 321));
        CollectionAssert.AreEqual(new long[] { 1, 128, 8, 6 }, FeatureShape(net, 64, 41));
        Assert.AreEqual(128, net.OutputChannels);
    }

    [TestMethod]
    public void MobileNetV1_OddInput_GivesCeilOfInputOverStride()
    {
        using var os8 = new MobileNetV1(0.75);
        CollectionAssert.AreEqual(new long[] { 1, 768, 41, 41 }, FeatureShape(os8, 321, 321));
        using var os16 = new MobileNetV1(0.25, outputStride: 16);
        CollectionAssert.AreEqual(new long[] { 1, 256, 21, 14 }, FeatureShape(os16, 321, 224));
        using var os32 = new MobileNetV1(0.25, outputStride: 32);
        CollectionAssert.AreEqual(new long[] { 1, 256, 11, 7 }, FeatureShape(os32, 321, 224));
    }

    [TestMethod]
    public void MobileNetV1_LayerNamesAndShapesMirrorKeras()
    {
        using var net = new MobileNetV1(0.75, classes: 1000);
        var state = net.state_dict();
        CollectionAssert.AreEqual(new long[] { 24, 3, 3, 3 }, state["conv1.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 24, 1, 3, 3 }, state["conv_dw_1.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 48, 24, 1, 1 }, state["conv_pw_1.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 768 }, state["conv_pw_13_bn.running_var"].shape);
        CollectionAssert.AreEqual(new long[] { 1000, 768, 1, 1 }, state["conv_preds.weight"].shape);
        Assert.IsTrue(state.ContainsKey("conv_preds.bias"));
        Assert.IsFalse(state.ContainsKey("conv_dw_1.bias"), "Keras MobileNet convolutions have no bias");
        // 1 stem + 13 x (depthwise + pointwise) convolutions, each followed by a BatchNorm.
        Assert.AreEqual(27, net.modules().OfType<FreezableBatchNorm2d>().Count());
    }

    [TestMethod]
    public void TfSamePadding_PutsTheOddPixelAtTheEnd()
    {
        Assert.AreEqual((0L, 1L), TfSameConv2d.SamePadding(224, 3, 2, 1));
        Assert.AreEqual((1L, 1L), TfSameConv2d.SamePadding(225, 3, 2, 1));
        Assert.AreEqual((2L, 2L), TfSameConv2d.SamePadding(41, 3, 1, 2));
        Assert.AreEqual((0L, 0L), TfSameConv2d.SamePadding(41, 1, 1, 1));

        // A 3x3 all-ones kernel at stride 2 on a 4x4 input: TensorFlow's windows start at row/column 0
        // and 2 (the padding goes after), so each output is a sum over input rows/columns {0,1,2} or {2,3}.
        using var scope = NewDisposeScope();
        var values = Enumerable.Range(0, 16).Select(v => (float)v).ToArray();
        using var conv = new TfSameConv2d(1, 1, 3, stride: 2);
        using (no_grad())
        {
            conv.Weight.fill_(1);
        }

        var output = Floats(conv.forward(tensor(values, [1, 1, 4, 4])));
        float Sum(int r0, int r1, int c0, int c1)
        {
            float s = 0;
            for (int r = r0; r <= r1; r++)
            {
                for (int c = c0; c <= c1; c++)
                {
                    s += values[(r * 4) + c];
                }
            }

            return s;
        }

        CollectionAssert.AreEqual(new[] { Sum(0, 2, 0, 2), Sum(0, 2, 2, 3), Sum(2, 3, 0, 2), Sum(2, 3, 2, 3) }, output);
    }

    [TestMethod]
    [DataRow(8L, 2L, 1L, 1L, DisplayName = "stride 2, even size: asymmetric padding (explicit pad)")]
    [DataRow(9L, 2L, 1L, 1L, DisplayName = "stride 2, odd size: symmetric padding (in the convolution)")]
    [DataRow(7L, 1L, 2L, 3L, DisplayName = "dilated depthwise, symmetric padding")]
    public void TfSameConv2d_GradientsMatchFiniteDifferences(long size, long stride, long dilation, long groups)
    {
        // Both code paths of the 'same' convolution (explicit asymmetric pad, or the convolution's own padding), for
        // input, kernel and shift (the folded BatchNorm's bias), in Float64.
        using var scope = NewDisposeScope();
        manual_seed(21);
        using var conv = new TfSameConv2d(3, 3, 3, stride, dilation, groups);
        var x = randn(2, 3, size, size, ScalarType.Float64);
        var kernel = randn(3, 3 / groups, 3, 3, ScalarType.Float64);
        var shift = randn(3, ScalarType.Float64);
        long outSize = (size + stride - 1) / stride;
        var projection = randn(2, 3, outSize, outSize, ScalarType.Float64);
        Wsss.Tests.Engine.GradCheck.Verify(v => (conv.Forward(v[0], v[1], v[2]) * projection).sum(), [x, kernel, shift]);
    }

    [TestMethod]
    public void ResNet38_SmallInput_Gives4096ChannelsAtStride8_WithReferenceNames()
    {
        using var net = new ResNet38();
        CollectionAssert.AreEqual(new long[] { 1, 4096, 9, 9 }, FeatureShape(net, 65, 65));
        var state = net.state_dict();
        CollectionAssert.AreEqual(new long[] { 64, 3, 3, 3 }, state["conv1a.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 64 }, state["b2.bn_branch2a.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 128, 64, 3, 3 }, state["b2.conv_branch2a.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 128, 64, 1, 1 }, state["b2.conv_branch1.weight"].shape);
        Assert.IsFalse(state.ContainsKey("b2_1.conv_branch1.weight"), "same-shape blocks have an identity shortcut");
        CollectionAssert.AreEqual(new long[] { 1024, 512, 3, 3 }, state["b5.conv_branch2b1.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 512, 1024, 1, 1 }, state["b6.conv_branch2a.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 1024, 512, 3, 3 }, state["b6.conv_branch2b1.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 2048, 1024, 1, 1 }, state["b6.conv_branch2b2.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 4096, 2048, 1, 1 }, state["b7.conv_branch1.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 4096 }, state["bn7.running_var"].shape);
    }

    [TestMethod]
    public void ResNet50_SmallInput_Gives2048ChannelsAtStride8_WithTorchvisionNames()
    {
        using var net = new ResNet50();
        CollectionAssert.AreEqual(new long[] { 1, 2048, 9, 9 }, FeatureShape(net, 65, 65));
        var state = net.state_dict();
        CollectionAssert.AreEqual(new long[] { 64, 3, 7, 7 }, state["conv1.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 256, 64, 1, 1 }, state["layer1.0.downsample.0.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 256 }, state["layer1.0.downsample.1.running_mean"].shape);
        CollectionAssert.AreEqual(new long[] { 512, 512, 3, 3 }, state["layer4.2.conv2.weight"].shape);
        Assert.IsTrue(state.ContainsKey("layer3.5.bn3.num_batches_tracked"));
        // torchvision's resnet50 has 25,557,032 parameters, 2,049,000 of them in the fc classifier.
        Assert.AreEqual(25_557_032L - 2_049_000L, net.parameters().Sum(p => p.numel()));
    }

    [TestMethod]
    public void ResNet18And101_HaveTorchvisionsShapesAndParameterCounts()
    {
        using var r18 = new ResNet18();
        CollectionAssert.AreEqual(new long[] { 1, 512, 9, 9 }, FeatureShape(r18, 65, 65));
        var state = r18.state_dict();
        CollectionAssert.AreEqual(new long[] { 128, 64, 1, 1 }, state["layer2.0.downsample.0.weight"].shape);
        Assert.IsFalse(state.ContainsKey("layer1.0.downsample.0.weight"), "layer1 keeps 64 channels: identity shortcut");
        Assert.IsFalse(state.ContainsKey("layer1.0.conv3.weight"), "basic blocks have two convolutions");
        // torchvision: resnet18 11,689,512 parameters, 513,000 of them in fc; resnet101 44,549,160, 2,049,000 in fc.
        Assert.AreEqual(11_689_512L - 513_000L, r18.parameters().Sum(p => p.numel()));
        using var r101 = new ResNet101(outputStride: 16);
        Assert.AreEqual(44_549_160L - 2_049_000L, r101.parameters().Sum(p => p.numel()));
        CollectionAssert.AreEqual(new long[] { 1, 2048, 5, 5 }, FeatureShape(r101, 65, 65));
        using var mlnet = new ResNet18(blocks: ResNet18.MLNetBlocks);
        Assert.AreEqual(11_689_512L - 513_000L + (2 * 512 * 512 * 9) + (4 * 512), mlnet.parameters().Sum(p => p.numel()));
        Assert.ThrowsExactly<ArgumentException>(() => new ResNet18(blocks: [2, 2, 2]));
        Assert.ThrowsExactly<ArgumentException>(() => new ResNet18(outputStride: 4));
    }

    [TestMethod]
    public void ResNet_BlocksFromNames_ReadsTheLayout()
    {
        using var mlnet = new ResNet18(blocks: ResNet18.MLNetBlocks);
        CollectionAssert.AreEqual(new[] { 2, 2, 2, 3 }, ResNet.BlocksFromNames(mlnet.state_dict().Keys.Select(k => "backbone." + k), "backbone.")!);
        using var r50 = new ResNet50();
        CollectionAssert.AreEqual(new[] { 3, 4, 6, 3 }, ResNet.BlocksFromNames(r50.state_dict().Keys)!);
        Assert.IsNull(ResNet.BlocksFromNames(["conv1.weight", "layer1.0.conv1.weight"]), "stages missing");
    }

    [TestMethod]
    public void FrozenBatchNorm_TrainingStepKeepsStatisticsAndAffineParameters()
    {
        using var scope = NewDisposeScope();
        using var frozen = new SmallCnn(frozenBatchNorm: true);
        using var trained = new SmallCnn(frozenBatchNorm: false);
        var input = (randn([2, 3, 33, 33]) * 3) + 1;

        foreach (var net in new[] { frozen, trained })
        {
            net.train();
            var before = net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            using var sgd = optim.SGD(net.parameters().Where(p => p.requires_grad), 0.1);
            sgd.zero_grad();
            net.forward(input).square().mean().backward();
            var bn = net.modules().OfType<FreezableBatchNorm2d>().First();
            var conv = net.modules().OfType<Conv2d>().First();
            Assert.IsNotNull(conv.weight!.grad, "convolutions train in both cases");
            Assert.AreEqual(net.FrozenBatchNorm, bn.Weight.grad is null, "frozen BatchNorm weights get no gradient");
            sgd.step();

            var after = net.state_dict();
            foreach (var (name, value) in before)
            {
                bool same = value.eq(after[name]).all().item<bool>();
                bool isBatchNormState = name.EndsWith("running_mean", StringComparison.Ordinal) || name.EndsWith("running_var", StringComparison.Ordinal)
                    || name.EndsWith("num_batches_tracked", StringComparison.Ordinal)
                    || name.EndsWith(".1.weight", StringComparison.Ordinal) || name.EndsWith(".1.bias", StringComparison.Ordinal);
                if (isBatchNormState)
                {
                    Assert.AreEqual(net.FrozenBatchNorm, same, $"{name} (frozen: {net.FrozenBatchNorm})");
                }
                else
                {
                    Assert.IsFalse(same, $"{name} should have trained");
                }
            }
        }
    }

    [TestMethod]
    public void MobileNetV1_FoldedFrozenBatchNorm_EqualsConvolutionThenBatchNorm()
    {
        // Frozen BatchNorm is folded into the preceding convolution (and relu6 clamps that output in place); the
        // same network with BatchNorm unfrozen and in evaluation mode runs convolution, BatchNorm and relu6 one
        // after the other: same values and same convolution gradients (dilated depthwise layers at output stride 8
        // included).
        using var scope = NewDisposeScope();
        using var net = new MobileNetV1(0.25, outputStride: 8);
        using (no_grad())
        {
            foreach (var bn in net.modules().OfType<FreezableBatchNorm2d>())
            {
                bn.Weight.uniform_(0.5, 1.5);
                // Shifts of a few units, so that relu6 saturates in places and its in-place clamp's zero gradient
                // there is compared too.
                bn.Bias.normal_(1, 3);
                bn.RunningMean.normal_(0, 0.2);
                bn.RunningVar.uniform_(0.3, 2.0);
            }
        }

        var input = randn([2, 3, 37, 45]);
        var upstream = randn([2, 256, 5, 6]);
        var convWeights = net.named_parameters().Where(p => !p.name.Contains("_bn.", StringComparison.Ordinal)).ToList();
        Assert.AreEqual(27, convWeights.Count);

        var (folded, plain) = FoldedAndPlain(net, input, upstream, convWeights);
        Assert.IsTrue(folded.Output.Any(v => v > 0 && v < 6), "some outputs lie inside relu6's linear range");
        Assert.IsTrue(folded.Output.Any(v => v == 6), "some outputs are clamped at 6, so the in-place clamp's gradient is exercised");
        Close(plain.Output, folded.Output, 1e-4, "features");
        CloseGradients(plain.Grads, folded.Grads, convWeights, 1e-4);
    }

    /// <summary>
    /// Output and convolution gradients of <paramref name="net"/> for loss sum(output * upstream), first with frozen
    /// BatchNorm (folded into the convolutions) in training mode, then with it unfrozen in evaluation mode (convolution
    /// and BatchNorm one after the other, the same function).
    /// </summary>
    private static ((double[] Output, long[] Shape, double[][] Grads) Folded, (double[] Output, long[] Shape, double[][] Grads) Plain) FoldedAndPlain(
        Backbone net, Tensor input, Tensor upstream, IReadOnlyList<(string Name, Parameter Parameter)> weights)
    {
        (double[] Output, long[] Shape, double[][] Grads) Run()
        {
            foreach (var (_, p) in weights)
            {
                p.grad?.zero_();
            }

            var output = net.forward(input);
            (output * upstream).sum().backward();
            return (Values(output), output.shape, weights.Select(p => Values(p.Parameter.grad!)).ToArray());
        }

        net.FrozenBatchNorm = true;
        net.train();
        var folded = Run();
        net.FrozenBatchNorm = false;
        net.eval();
        return (folded, Run());
    }

    /// <summary>Each weight's gradients agree relative to the largest of its expected ones (at least 1e-3).</summary>
    private static void CloseGradients(double[][] expected, double[][] actual, IReadOnlyList<(string Name, Parameter Parameter)> weights, double tolerance)
    {
        for (int i = 0; i < weights.Count; i++)
        {
            double scale = Math.Max(1e-3, expected[i].Max(Math.Abs));
            Close(expected[i].Select(v => v / scale).ToArray(), actual[i].Select(v => v / scale).ToArray(), tolerance, weights[i].Name);
        }
    }

    [TestMethod]
    [DataRow(18, 8)]
    [DataRow(18, 32)]
    [DataRow(50, 16)]
    public void ResNet_FoldedFrozenBatchNorm_EqualsConvolutionThenBatchNorm(int depth, int outputStride)
    {
        // As for MobileNetV1: frozen BatchNorm folded into the convolutions (and ReLUs in place) against the same
        // network with BatchNorm unfrozen in evaluation mode, values and convolution gradients. In float64: in float32
        // the two roundings now and then put a max-pool window's two largest inputs in a different order (2 of 9
        // ResNet-50 draws in one measurement), which routes that window's gradient elsewhere and moved conv1's gradient
        // by up to 5 % of its largest element; in float64 the two agree within the 1e-10 asked below.
        using var scope = NewDisposeScope();
        ResNet net = depth == 18 ? new ResNet18(outputStride: outputStride) : new ResNet50(outputStride: outputStride);
        using var owner = net;
        net.to(ScalarType.Float64);
        using (no_grad())
        {
            foreach (var bn in net.modules().OfType<FreezableBatchNorm2d>())
            {
                bn.Weight.uniform_(0.5, 1.5);
                bn.Bias.normal_(0, 0.5);
                bn.RunningMean.normal_(0, 0.2);
                bn.RunningVar.uniform_(0.3, 2.0);
            }
        }

        var input = randn([2, 3, 40, 48], ScalarType.Float64);
        long side = (40 + outputStride - 1) / outputStride, wide = (48 + outputStride - 1) / outputStride;
        var upstream = randn([2, net.OutputChannels, side, wide], ScalarType.Float64);
        var convWeights = net.named_parameters().Where(p => p.name.EndsWith("weight", StringComparison.Ordinal) && p.parameter.dim() == 4).ToList();

        var (folded, plain) = FoldedAndPlain(net, input, upstream, convWeights);
        CollectionAssert.AreEqual(new long[] { 2, net.OutputChannels, side, wide }, folded.Shape);
        CollectionAssert.AreEqual(new long[] { 2, net.OutputChannels, side, wide }, plain.Shape);
        Assert.IsTrue(folded.Output.Any(v => v > 0), "some features are active");
        // Relative to the largest feature.
        double featureScale = plain.Output.Max(Math.Abs);
        Close(plain.Output.Select(v => v / featureScale).ToArray(), folded.Output.Select(v => v / featureScale).ToArray(), 1e-10, "features");
        CloseGradients(plain.Grads, folded.Grads, convWeights, 1e-10);
    }

    [TestMethod]
    public void FrozenBatchNorm_UsesRunningStatisticsInTrainingMode()
    {
        using var scope = NewDisposeScope();
        using var net = new SmallCnn(frozenBatchNorm: true);
        var input = randn([2, 3, 32, 32]);
        net.train();
        var train = Floats(net.forward(input));
        net.eval();
        var eval = Floats(net.forward(input));
        CollectionAssert.AreEqual(eval, train);
        net.FrozenBatchNorm = false;
        net.train();
        var batchStats = Floats(net.forward(input));
        CollectionAssert.AreNotEqual(eval, batchStats);
    }

    [TestMethod]
    public void LoadWeights_NamesMissingAndMisshapedTensors_AndReturnsUnused()
    {
        using var scope = NewDisposeScope();
        using var source = new SmallCnn();
        using var target = new SmallCnn();
        var weights = ModelWeights.Export(source);

        var missing = new Dictionary<string, (float[] Data, long[] Shape)>(weights);
        missing.Remove("block3.0.weight");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => target.LoadWeights(missing));
        StringAssert.Contains(e.Message, "'block3.0.weight' is missing");

        var misshaped = new Dictionary<string, (float[] Data, long[] Shape)>(weights)
        {
            ["block2.1.running_mean"] = (new float[32], [32]),
        };
        e = Assert.ThrowsExactly<InvalidDataException>(() => target.LoadWeights(misshaped));
        StringAssert.Contains(e.Message, "'block2.1.running_mean' has shape (32)");

        var extra = new Dictionary<string, (float[] Data, long[] Shape)>(weights) { ["fc.weight"] = (new float[2], [2]) };
        extra.Remove("block1.1.num_batches_tracked");
        CollectionAssert.AreEqual(new[] { "fc.weight" }, target.LoadWeights(extra).ToArray());
        foreach (var (name, value) in target.state_dict())
        {
            if (!name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            {
                CollectionAssert.AreEqual(weights[name].Data, Floats(value), name);
            }
        }
    }

    [TestMethod]
    public void Create_BuildsEachKindWithItsNormalization()
    {
        using var small = Backbones.Create(BackboneKind.SmallCnn);
        Assert.IsInstanceOfType<SmallCnn>(small);
        Assert.IsFalse(small.FrozenBatchNorm);
        using var mobile = Backbones.Create(BackboneKind.MobileNetV1, 0.5);
        Assert.AreEqual(0.5, mobile.Width);
        Assert.AreEqual(512, mobile.OutputChannels);
        Assert.IsTrue(mobile.FrozenBatchNorm);
        Assert.AreSame(InputNormalization.MinusOneToOne, mobile.Normalization);
        Assert.ThrowsExactly<ArgumentException>(() => Backbones.Create(BackboneKind.ResNet50, 0.5));
    }
}
