using System.Globalization;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Model;
using Wsss.Model.Layers;
using Wsss.Model.Serialization;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Engine;

/// <summary>
/// The networks as TorchSharp modules: their state-dict keys are the names the previous engine wrote into model
/// files and that converted pretrained weights use (Keras for MobileNet, torchvision for ResNet-50, the PSA reference
/// for ResNet-38), the state dict holds the live tensors, and a round trip through it reproduces the outputs.
/// </summary>
[TestClass]
public sealed class ModuleStateDictTests
{
    private static readonly string[] BatchNormEntries = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"];

    private static IEnumerable<string> Bn(string prefix) => BatchNormEntries.Select(e => $"{prefix}.{e}");

    private static string Fixture() => Path.Combine(TestData.RepoRoot, "Wsss.Tests", "Fixtures", "model-v0.1-smallcnn", "smallcnn.safetensors");

    [TestMethod]
    public void SmallCnnInRrmNetwork_HasExactlyTheKeysOfAVersion01ModelFile()
    {
        // The model file the 0.1 engine wrote is the record of its names.
        string fixture = Fixture();
        if (!File.Exists(fixture))
        {
            Assert.Inconclusive($"the 0.1 model fixture is missing: {fixture}");
        }

        string[] old = SafetensorsFile.ReadHeader(fixture).Tensors.Select(t => t.Name).Order(StringComparer.Ordinal).ToArray();
        using var net = new RrmNetwork(new SmallCnn(), 3);
        CollectionAssert.AreEqual(old, net.state_dict().Keys.Order(StringComparer.Ordinal).ToArray());

        var expected = Enumerable.Range(1, 4).SelectMany(b => new[] { $"backbone.block{b}.0.weight" }.Concat(Bn($"backbone.block{b}.1")))
            .Concat(["classifier.weight", "segmentation.conv1.weight", "segmentation.conv1.bias", "segmentation.conv2.weight", "segmentation.conv2.bias"]);
        CollectionAssert.AreEquivalent(expected.ToArray(), net.state_dict().Keys.ToArray());
    }

    [TestMethod]
    public void MobileNetV1_KeysAreKerasLayerNames()
    {
        static IEnumerable<string> Expected(bool classifier)
        {
            var layers = new List<string> { "conv1" };
            for (int i = 1; i <= 13; i++)
            {
                layers.Add($"conv_dw_{i}");
                layers.Add($"conv_pw_{i}");
            }

            foreach (string layer in layers)
            {
                yield return layer + ".weight";
                foreach (string k in Bn(layer + "_bn"))
                {
                    yield return k;
                }
            }

            if (classifier)
            {
                yield return "conv_preds.weight";
                yield return "conv_preds.bias";
            }
        }

        // As sets: TorchSharp lists all parameters before all buffers (PyTorch, and the old engine, went module by
        // module); files and weight maps are keyed by name, so the order does not matter.
        using var features = new MobileNetV1(0.5);
        CollectionAssert.AreEquivalent(Expected(false).ToArray(), features.state_dict().Keys.ToArray());
        using var classifier = new MobileNetV1(0.25, outputStride: 32, classes: 10);
        CollectionAssert.AreEquivalent(Expected(true).ToArray(), classifier.state_dict().Keys.ToArray());
    }

    [TestMethod]
    public void ResNet50_KeysAreTorchvisionsWithoutTheClassifier()
    {
        var expected = new List<string> { "conv1.weight" };
        expected.AddRange(Bn("bn1"));
        int[] blocks = [3, 4, 6, 3];
        for (int layer = 1; layer <= 4; layer++)
        {
            for (int b = 0; b < blocks[layer - 1]; b++)
            {
                string p = $"layer{layer}.{b}";
                for (int k = 1; k <= 3; k++)
                {
                    expected.Add($"{p}.conv{k}.weight");
                    expected.AddRange(Bn($"{p}.bn{k}"));
                }

                if (b == 0)
                {
                    expected.Add($"{p}.downsample.0.weight");
                    expected.AddRange(Bn($"{p}.downsample.1"));
                }
            }
        }

        using var net = new ResNet50();
        // torchvision's resnet50 state dict has 320 entries, two of them fc.weight and fc.bias.
        Assert.HasCount(318, expected);
        CollectionAssert.AreEquivalent(expected, net.state_dict().Keys.ToArray());
    }

    [TestMethod]
    public void ResNet38_KeysAreThePsaReferenceNames()
    {
        var expected = new List<string> { "conv1a.weight" };
        void Wide(string name, bool projection)
        {
            expected.AddRange(Bn($"{name}.bn_branch2a"));
            expected.Add($"{name}.conv_branch2a.weight");
            expected.AddRange(Bn($"{name}.bn_branch2b1"));
            expected.Add($"{name}.conv_branch2b1.weight");
            if (projection)
            {
                expected.Add($"{name}.conv_branch1.weight");
            }
        }

        foreach (string stage in new[] { "b2", "b3" })
        {
            Wide(stage, true);
            Wide(stage + "_1", false);
            Wide(stage + "_2", false);
        }

        Wide("b4", true);
        for (int i = 1; i <= 5; i++)
        {
            Wide("b4_" + i.ToString(CultureInfo.InvariantCulture), false);
        }

        Wide("b5", true);
        Wide("b5_1", false);
        Wide("b5_2", false);
        foreach (string name in new[] { "b6", "b7" })
        {
            expected.AddRange(Bn($"{name}.bn_branch2a"));
            expected.Add($"{name}.conv_branch2a.weight");
            expected.AddRange(Bn($"{name}.bn_branch2b1"));
            expected.Add($"{name}.conv_branch2b1.weight");
            expected.AddRange(Bn($"{name}.bn_branch2b2"));
            expected.Add($"{name}.conv_branch2b2.weight");
            expected.Add($"{name}.conv_branch1.weight");
        }

        expected.AddRange(Bn("bn7"));
        using var net = new ResNet38();
        CollectionAssert.AreEquivalent(expected, net.state_dict().Keys.ToArray());
    }

    [TestMethod]
    public void StateDict_HasOneNamePerTensor_ForEveryBackboneInAnRrmNetwork()
    {
        // TorchSharp registers a module's fields under their C# names when the module is registered in a parent, unless
        // they are already registered under that name: a field registered under another name (a reference name) then
        // appears twice in the state dict, doubling model files and breaking loads of reference weights.
        foreach (Func<Backbone> make in new Func<Backbone>[] { () => new SmallCnn(), () => new MobileNetV1(0.25, classes: 3), () => new ResNet50(), () => new ResNet38() })
        {
            using var net = new RrmNetwork(make(), 2);
            var state = net.state_dict();
            var names = state.GroupBy(kv => kv.Value.Handle).Where(g => g.Count() > 1).Select(g => string.Join(" = ", g.Select(kv => kv.Key))).ToArray();
            Assert.IsEmpty(names, $"{net.Backbone.Kind}: tensors under several names: {string.Join("; ", names.Take(5))}");
            Assert.AreEqual(net.named_parameters().Count() + net.named_buffers().Count(), state.Count, $"{net.Backbone.Kind}: state dict = parameters + buffers");
        }
    }

    [TestMethod]
    public void StateDict_IsParametersPlusBatchNormBuffers_HoldingTheLiveTensors()
    {
        using var scope = NewDisposeScope();
        using var net = new RrmNetwork(new MobileNetV1(0.25, classes: 5), 2);
        var state = net.state_dict();
        foreach (string key in new[] { "backbone.conv1.weight", "backbone.conv_dw_1_bn.running_var", "backbone.conv_pw_13_bn.num_batches_tracked", "backbone.conv_preds.bias", "classifier.weight", "segmentation.conv1.bias" })
        {
            Assert.IsTrue(state.ContainsKey(key), key);
        }

        var parameters = net.named_parameters().Select(p => p.name).ToArray();
        var buffers = net.named_buffers().Select(b => b.name).ToArray();
        CollectionAssert.AreEquivalent(parameters.Concat(buffers).ToArray(), state.Keys.ToArray());
        Assert.IsTrue(buffers.All(b => b.EndsWith(".running_mean", StringComparison.Ordinal) || b.EndsWith(".running_var", StringComparison.Ordinal)
            || b.EndsWith(".num_batches_tracked", StringComparison.Ordinal)), string.Join(", ", buffers));
        Assert.IsTrue(state.Where(kv => kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            .All(kv => kv.Value.dtype == ScalarType.Int64 && kv.Value.dim() == 0), "PyTorch's batch counter: a 0-d Int64");

        // ModelWeights.Load copies into the state dict's tensors: they must be the module's own, not copies.
        using (no_grad())
        {
            state["backbone.conv1.weight"].fill_(0.25f);
            state["backbone.conv1_bn.running_var"].fill_(4f);
        }

        var conv1 = net.Backbone.named_parameters().Single(p => p.name == "conv1.weight").parameter;
        Assert.IsTrue(Floats(conv1).All(v => v == 0.25f));
        var bn = net.Backbone.modules().OfType<FreezableBatchNorm2d>().First();
        Assert.IsTrue(Floats(bn.RunningVar).All(v => v == 4f));
    }

    [TestMethod]
    public void StateDictRoundTrip_GivesIdenticalOutputs_WithCopiedValues()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var a = new SmallCnn();
        manual_seed(2);
        using var b = new SmallCnn();
        var x = randn(2, 3, 16, 16);
        a.train();
        _ = a.forward(x); // training mode: moves a's running statistics away from their initial values
        CollectionAssert.AreNotEqual(Floats(a.state_dict()["block1.0.weight"]), Floats(b.state_dict()["block1.0.weight"]));

        var (missing, unexpected) = b.load_state_dict(a.state_dict());
        Assert.AreEqual(0, missing.Count + unexpected.Count);
        a.eval();
        b.eval();
        CollectionAssert.AreEqual(Floats(a.forward(x)), Floats(b.forward(x)));
        var bnA = a.modules().OfType<FreezableBatchNorm2d>().First();
        var bnB = b.modules().OfType<FreezableBatchNorm2d>().First();
        CollectionAssert.AreEqual(Floats(bnA.RunningMean), Floats(bnB.RunningMean));
        Assert.AreEqual(1L, bnB.NumBatchesTracked.item<long>());

        // values are copied, not shared
        using (no_grad())
        {
            a.state_dict()["block1.0.weight"].fill_(0);
        }

        Assert.IsTrue(Floats(b.state_dict()["block1.0.weight"]).Any(v => v != 0));
    }

    [TestMethod]
    public void ModelWeightsLoad_NamesTheKey_AndAFailedLoadChangesNothing()
    {
        using var scope = NewDisposeScope();
        using var source = new RrmNetwork(new SmallCnn(), 2);
        using var target = new RrmNetwork(new SmallCnn(), 2);
        var weights = ModelWeights.Export(source);
        float[] before = Floats(target.state_dict()["backbone.block1.0.weight"]);

        var missing = new Dictionary<string, (float[] Data, long[] Shape)>(weights);
        missing.Remove("backbone.block2.1.running_var");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ModelWeights.Load(target, missing));
        StringAssert.Contains(e.Message, "'backbone.block2.1.running_var' is missing");
        StringAssert.Contains(e.Message, "(64)");

        var wrong = new Dictionary<string, (float[] Data, long[] Shape)>(weights)
        {
            ["segmentation.conv2.weight"] = (new float[2 * 512 * 9], [2, 512, 3, 3]),
            ["classifier.weight"] = (new float[3], [2, 128, 1, 1]),
        };
        e = Assert.ThrowsExactly<InvalidDataException>(() => ModelWeights.Load(target, wrong));
        StringAssert.Contains(e.Message, "'segmentation.conv2.weight' has shape (2, 512, 3, 3) but (3, 512, 3, 3) is expected");
        StringAssert.Contains(e.Message, "'classifier.weight' has 3 values");
        CollectionAssert.AreEqual(before, Floats(target.state_dict()["backbone.block1.0.weight"]), "a failed load copies nothing, not even the good tensors");

        // Extra names are reported, missing batch counters tolerated (older checkpoints have none).
        var extra = new Dictionary<string, (float[] Data, long[] Shape)>(weights) { ["fc.weight"] = ([1f], [1]) };
        extra.Remove("backbone.block1.1.num_batches_tracked");
        CollectionAssert.AreEqual(new[] { "fc.weight" }, ModelWeights.Load(target, extra).ToArray());
        CollectionAssert.AreEqual(weights["backbone.block1.0.weight"].Data, Floats(target.state_dict()["backbone.block1.0.weight"]));
    }

    [TestMethod]
    public void ToFloat64_RepointsEveryParameterAndBuffer_AndTheNetworksStillRun()
    {
        // The layers keep their tensors in fields (TorchSharp re-points registered fields on .to()); a field left
        // behind would keep Float32 running statistics, and the forward would fail on Float64 input.
        using var scope = NewDisposeScope();
        using var net = new RrmNetwork(new MobileNetV1(0.25), 2);
        using var small = new SmallCnn(frozenBatchNorm: false);
        net.to(ScalarType.Float64);
        small.to(ScalarType.Float64);
        Assert.IsTrue(net.state_dict().Concat(small.state_dict()).Where(kv => !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            .All(kv => kv.Value.dtype == ScalarType.Float64));
        foreach (var bn in net.modules().OfType<FreezableBatchNorm2d>())
        {
            Assert.AreEqual(ScalarType.Float64, bn.RunningMean.dtype);
            Assert.AreEqual(ScalarType.Float64, bn.Weight.dtype);
            Assert.IsFalse(bn.Weight.requires_grad, "frozen BatchNorm stays frozen after the move");
        }

        var images = randn(1, 3, 24, 24, ScalarType.Float64);
        net.eval();
        using (var output = net.forward(images))
        {
            Assert.AreEqual(ScalarType.Float64, output.SegmentationLogits.dtype);
        }

        small.train();
        Assert.AreEqual(ScalarType.Float64, small.forward(images).dtype);
        Assert.AreEqual(1L, small.modules().OfType<FreezableBatchNorm2d>().First().NumBatchesTracked.item<long>());
    }

    [TestMethod]
    public void TrainAndEval_ReachEveryLayer_AndDisposeFreesTheTensors()
    {
        var net = new RrmNetwork(new MobileNetV1(0.25), 2);
        net.eval();
        Assert.IsTrue(net.modules().All(m => !m.training), "eval reaches every descendant (BatchNorm, the classifier's dropout)");
        net.train();
        Assert.IsTrue(net.modules().All(m => m.training));
        var weight = net.Classifier.Weight;
        var runningVar = net.Backbone.modules().OfType<FreezableBatchNorm2d>().Last().RunningVar;
        net.Dispose();
        Assert.IsTrue(weight.IsInvalid && runningVar.IsInvalid, "parameters and buffers are freed with the network");
    }
}
