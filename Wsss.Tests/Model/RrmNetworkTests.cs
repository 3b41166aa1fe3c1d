using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Model;
using Wsss.Model.Layers;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Model;

[TestClass]
public sealed class RrmNetworkTests
{
    [TestMethod]
    public void Forward_GivesLogitsCamAndSegmentationAtStride8()
    {
        using var scope = NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(), 3);
        using var output = net.forward(randn([2, 3, 65, 63]));
        CollectionAssert.AreEqual(new long[] { 2, 3 }, output.ClassLogits.shape);
        CollectionAssert.AreEqual(new long[] { 2, 3, 9, 8 }, output.Cam.shape);
        CollectionAssert.AreEqual(new long[] { 2, 4, 9, 8 }, output.SegmentationLogits.shape);
        Assert.IsTrue(output.Cam.requires_grad && output.SegmentationLogits.requires_grad);
    }

    [TestMethod]
    public void Heads_AreInitialisedAsSpecified()
    {
        using var net = new RrmNetwork(new SmallCnn(), 5);
        var state = net.state_dict();
        CollectionAssert.AreEqual(new long[] { 5, 128, 1, 1 }, state["classifier.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 512, 128, 3, 3 }, state["segmentation.conv1.weight"].shape);
        CollectionAssert.AreEqual(new long[] { 6, 512, 3, 3 }, state["segmentation.conv2.weight"].shape);
        Assert.IsFalse(state.ContainsKey("classifier.bias"));
        Assert.IsTrue(Floats(state["segmentation.conv1.bias"]).All(v => v == 0));
        Assert.IsTrue(Floats(state["segmentation.conv2.bias"]).All(v => v == 0));
        // Xavier-uniform bound sqrt(6 / (fan_in + fan_out)), and the samples should nearly reach it.
        double bound = Math.Sqrt(6.0 / ((512 * 9) + (6 * 9)));
        var w = Floats(state["segmentation.conv2.weight"]);
        Assert.IsTrue(w.Max(Math.Abs) <= bound && w.Max(Math.Abs) > 0.95 * bound);
    }

    [TestMethod]
    public void Cam_IsReluOfClassifierWeightsOnUndroppedFeatures()
    {
        using var scope = NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(), 4);
        var images = randn([2, 3, 40, 48]);
        // Training mode: the classifier's dropout is active, but the CAM must not see it. SmallCnn's BatchNorm
        // trains, so the features of a second training-mode forward are the same (batch statistics, same batch).
        net.train();
        using var output = net.forward(images);
        var features = net.Backbone.forward(images).detach();
        long c = features.shape[1];
        // Per-pixel matrix product: (N, h, w, F) x (F, C).
        var weight = net.Classifier.Weight.detach().reshape(4, c);
        var scores = features.permute(0, 2, 3, 1).matmul(weight.permute(1, 0)).permute(0, 3, 1, 2);
        var expected = Floats(nn.functional.relu(scores));
        var actual = Floats(output.Cam);
        Assert.AreEqual(expected.Length, actual.Length);
        Assert.IsTrue(expected.Any(v => v > 0) && expected.Any(v => v == 0), "the test needs both signs");
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], actual[i], 1e-4, $"element {i}");
        }

        // In evaluation mode the logits are the spatial mean of the (unrectified) scores.
        net.eval();
        using var evalOutput = net.forward(images);
        var logits = Floats(evalOutput.ClassLogits);
        var evalFeatures = net.Backbone.forward(images).detach();
        var means = Floats(evalFeatures.permute(0, 2, 3, 1).matmul(weight.permute(1, 0)).mean([1, 2]));
        for (int i = 0; i < logits.Length; i++)
        {
            Assert.AreEqual(means[i], logits[i], 1e-4);
        }
    }

    [TestMethod]
    public void StateDictRoundTrip_GivesIdenticalOutputs()
    {
        using var scope = NewDisposeScope();
        using var a = new RrmNetwork(new MobileNetV1(0.25), 3);
        using var b = new RrmNetwork(new MobileNetV1(0.25), 3);
        using (no_grad())
        {
            // Non-trivial BatchNorm statistics, so that buffers matter too.
            foreach (var (name, t) in a.state_dict().Where(kv => kv.Key.EndsWith("running_var", StringComparison.Ordinal)))
            {
                t.uniform_(0.5, 2);
            }
        }

        a.eval();
        b.eval();
        var images = randn([1, 3, 57, 50]);
        using var before = b.forward(images);
        using var reference = a.forward(images);
        CollectionAssert.AreNotEqual(Floats(reference.SegmentationLogits), Floats(before.SegmentationLogits));

        var (missing, unexpected) = b.load_state_dict(a.state_dict());
        Assert.AreEqual(0, missing.Count + unexpected.Count);
        using var loaded = b.forward(images);
        CollectionAssert.AreEqual(Floats(reference.ClassLogits), Floats(loaded.ClassLogits));
        CollectionAssert.AreEqual(Floats(reference.Cam), Floats(loaded.Cam));
        CollectionAssert.AreEqual(Floats(reference.SegmentationLogits), Floats(loaded.SegmentationLogits));

        // The same through plain weight maps (the safetensors path).
        using var c = new RrmNetwork(new MobileNetV1(0.25), 3);
        c.eval();
        Assert.AreEqual(0, ModelWeights.Load(c, ModelWeights.Export(a)).Count);
        using var mapped = c.forward(images);
        CollectionAssert.AreEqual(Floats(reference.SegmentationLogits), Floats(mapped.SegmentationLogits));
    }

    [TestMethod]
    public void ParameterGroups_PartitionTheNonBatchNormParametersWithRrmMultipliers()
    {
        using var scope = NewDisposeScope();
        // A classifier in the backbone gives it a bias, so that all four groups are non-empty.
        using var net = new RrmNetwork(new MobileNetV1(0.25, classes: 7), 3);
        var groups = net.ParameterGroups(weightDecay: 3e-5);
        CollectionAssert.AreEqual(new[] { "backbone.weight", "backbone.bias", "head.weight", "head.bias" }, groups.Select(g => g.Name).ToArray());
        CollectionAssert.AreEqual(new[] { 1.0, 2.0, 10.0, 20.0 }, groups.Select(g => g.LearningRateMultiplier).ToArray());
        CollectionAssert.AreEqual(new[] { 3e-5, 0, 3e-5, 0 }, groups.Select(g => g.WeightDecay).ToArray());

        var batchNorm = net.modules().OfType<FreezableBatchNorm2d>().SelectMany(m => m.parameters()).Select(p => p.Handle).ToHashSet();
        var expected = net.named_parameters().Where(p => !batchNorm.Contains(p.parameter.Handle)).ToList();
        // TorchSharp hands out a new wrapper object per enumeration: parameters are compared by native handle.
        var grouped = groups.SelectMany(g => g.Parameters).ToList();
        Assert.AreEqual(grouped.Count, grouped.Select(p => p.Handle).Distinct().Count(), "no parameter in two groups");
        Assert.AreEqual(expected.Count, grouped.Count);
        foreach (var (name, p) in expected)
        {
            int group = Array.FindIndex(groups, g => g.Parameters.Any(q => q.Handle == p.Handle));
            bool head = !name.StartsWith("backbone.", StringComparison.Ordinal);
            bool bias = name.EndsWith(".bias", StringComparison.Ordinal);
            Assert.AreEqual((head ? 2 : 0) + (bias ? 1 : 0), group, name);
        }

        Assert.AreEqual(1, groups[1].Parameters.Count, "backbone.conv_preds.bias");
        Assert.AreEqual(3, groups[2].Parameters.Count, "classifier and two segmentation kernels");
        Assert.AreEqual(2, groups[3].Parameters.Count, "two segmentation biases");
    }

    [TestMethod]
    public void ParameterGroups_BackboneFactorScalesOnlyTheBackboneGroups()
    {
        using var scope = NewDisposeScope();
        using var net = new RrmNetwork(new MobileNetV1(0.25, classes: 7), 3);
        CollectionAssert.AreEqual(new[] { 0.25, 0.5, 10.0, 20.0 }, net.ParameterGroups(1e-5, 0.25).Select(g => g.LearningRateMultiplier).ToArray());
        CollectionAssert.AreEqual(new[] { 0.0, 0.0, 10.0, 20.0 }, net.ParameterGroups(1e-5, 0).Select(g => g.LearningRateMultiplier).ToArray());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => net.ParameterGroups(1e-5, -1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => net.ParameterGroups(double.NaN));
        var options = new Wsss.Training.RrmTrainingOptions { BackboneLearningRateFactor = -0.5 };
        var error = Assert.ThrowsExactly<ArgumentException>(options.Validate);
        StringAssert.Contains(error.Message, "BackboneLearningRateFactor");
    }

    [TestMethod]
    public void ParameterGroups_DriveSgdWithEmptyGroups()
    {
        using var scope = NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(frozenBatchNorm: true), 2);
        var groups = net.ParameterGroups();
        Assert.AreEqual(0, groups[1].Parameters.Count, "SmallCnn has no convolution biases");
        using var sgd = new Wsss.Training.GroupedSgd(groups, 0.01, momentum: 0);
        var segBias = net.state_dict()["segmentation.conv2.bias"];
        using var output = net.forward(randn([1, 3, 24, 24]));
        (output.ClassLogits.sum() + output.SegmentationLogits.select(1, 1).sum()).backward();
        var grad = Floats(segBias.grad!);
        sgd.Step();
        // The head bias moves 20x the base rate: 0 - 0.01 * 20 * grad.
        var moved = Floats(segBias);
        for (int i = 0; i < grad.Length; i++)
        {
            Assert.AreEqual(-0.2 * grad[i], moved[i], 1e-5);
        }

        Assert.AreNotEqual(0f, grad[1]);
    }

    [TestMethod]
    public void MultiScaleCam_IsNormalisedMaskedAndDetached()
    {
        using var scope = NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(), 3);
        using (no_grad())
        {
            // Larger class scores so that max / (max + 1e-5) is within 1e-4 of 1.
            net.Classifier.Weight.mul_(20);
        }

        net.train();
        var images = randn([2, 3, 50, 45]);
        var labels = tensor(new float[] { 1, 0, 1, 0, 1, 0 }, [2, 3]);
        using var output = net.forward(images);
        var cam = net.MultiScaleCam(images, labels, output.Cam);
        CollectionAssert.AreEqual(new long[] { 2, 3, 50, 45 }, cam.shape);
        Assert.IsFalse(cam.requires_grad);

        var maxima = Floats(cam.amax([2, 3]));
        var minima = Floats(cam.amin([2, 3]));
        var rawMaxima = Floats(output.Cam.amax([2, 3]));
        float[] label = Floats(labels);
        int checkedPresent = 0;
        for (int i = 0; i < maxima.Length; i++)
        {
            Assert.IsTrue(minima[i] >= 0 && maxima[i] <= 1, $"map {i} in [0, 1]");
            if (label[i] == 0)
            {
                Assert.AreEqual(0f, maxima[i], $"absent class {i} is zeroed");
            }
            else if (rawMaxima[i] > 0)
            {
                Assert.AreEqual(1.0, maxima[i], 1e-4, $"present class {i}");
                checkedPresent++;
            }
        }

        Assert.IsTrue(checkedPresent >= 2, "the test needs present classes with positive activation");
    }

    [TestMethod]
    public void MultiScaleCam_ScaleOneAddsNothing_OtherScalesDo()
    {
        using var scope = NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(), 2);
        net.eval();
        var images = randn([1, 3, 48, 40]);
        var labels = tensor(new float[] { 1, 1 }, [1, 2]);
        var single = Floats(net.MultiScaleCam(images, labels, scales: []));
        var withOne = Floats(net.MultiScaleCam(images, labels, scales: [1.0]));
        var withCam1 = Floats(net.MultiScaleCam(images, labels, net.ForwardCam(images), scales: []));
        var multi = Floats(net.MultiScaleCam(images, labels));
        for (int i = 0; i < single.Length; i++)
        {
            Assert.AreEqual(single[i], withOne[i], 1e-5);
            Assert.AreEqual(single[i], withCam1[i], 1e-6);
        }

        Assert.IsTrue(single.Zip(multi).Any(p => Math.Abs(p.First - p.Second) > 1e-3), "other scales change the average");
        Assert.ThrowsExactly<ArgumentException>(() => net.MultiScaleCam(images, ones([1, 3])));
    }
}
