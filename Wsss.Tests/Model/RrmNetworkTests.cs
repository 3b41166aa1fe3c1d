using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Model;
using Wsss.Torch;
using Wsss.Torch.Nn;
using Wsss.Torch.Optim;
using F = Wsss.Torch.Functional;
using T = Wsss.Torch.Torch;

namespace Wsss.Tests.Model;

[TestClass]
public sealed class RrmNetworkTests
{
    [TestMethod]
    public void Forward_GivesLogitsCamAndSegmentationAtStride8()
    {
        using var scope = T.NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(), 3);
        using var output = net.Forward(T.Randn([2, 3, 65, 63]));
        CollectionAssert.AreEqual(new long[] { 2, 3 }, output.ClassLogits.Shape.ToArray());
        CollectionAssert.AreEqual(new long[] { 2, 3, 9, 8 }, output.Cam.Shape.ToArray());
        CollectionAssert.AreEqual(new long[] { 2, 4, 9, 8 }, output.SegmentationLogits.Shape.ToArray());
        Assert.IsTrue(output.Cam.RequiresGrad && output.SegmentationLogits.RequiresGrad);
    }

    [TestMethod]
    public void Heads_AreInitialisedAsSpecified()
    {
        using var net = new RrmNetwork(new SmallCnn(), 5);
        var state = net.StateDict();
        CollectionAssert.AreEqual(new long[] { 5, 128, 1, 1 }, state["classifier.weight"].Shape.ToArray());
        CollectionAssert.AreEqual(new long[] { 512, 128, 3, 3 }, state["segmentation.conv1.weight"].Shape.ToArray());
        CollectionAssert.AreEqual(new long[] { 6, 512, 3, 3 }, state["segmentation.conv2.weight"].Shape.ToArray());
        Assert.IsFalse(state.ContainsKey("classifier.bias"));
        Assert.IsTrue(state["segmentation.conv1.bias"].ToArray<float>().All(v => v == 0));
        Assert.IsTrue(state["segmentation.conv2.bias"].ToArray<float>().All(v => v == 0));
        // Xavier-uniform bound sqrt(6 / (fan_in + fan_out)), and the samples should nearly reach it.
        double bound = Math.Sqrt(6.0 / ((512 * 9) + (6 * 9)));
        var w = state["segmentation.conv2.weight"].ToArray<float>();
        Assert.IsTrue(w.Max(Math.Abs) <= bound && w.Max(Math.Abs) > 0.95 * bound);
    }

    [TestMethod]
    public void Cam_IsReluOfClassifierWeightsOnUndroppedFeatures()
    {
        using var scope = T.NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(), 4);
        var images = T.Randn([2, 3, 40, 48]);
        // Training mode: the classifier's dropout is active, but the CAM must not see it.
        net.Train();
        using var output = net.Forward(images);
        var features = net.Backbone.Forward(images).Detach();
        long c = features.Size(1);
        // Per-pixel matrix product: (N, h, w, F) x (F, C).
        var weight = net.Classifier.Weight.Detach().Reshape(4, c);
        var scores = features.Permute(0, 2, 3, 1).MatMul(weight.Permute(1, 0)).Permute(0, 3, 1, 2);
        var expected = scores.Relu().Contiguous().ToArray<float>();
        var actual = output.Cam.Detach().Contiguous().ToArray<float>();
        Assert.AreEqual(expected.Length, actual.Length);
        Assert.IsTrue(expected.Any(v => v > 0) && expected.Any(v => v == 0), "the test needs both signs");
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], actual[i], 1e-4, $"element {i}");
        }

        // In evaluation mode the logits are the spatial mean of the (unrectified) scores.
        net.Eval();
        using var evalOutput = net.Forward(images);
        var logits = evalOutput.ClassLogits.Detach().ToArray<float>();
        var evalFeatures = net.Backbone.Forward(images).Detach();
        var means = evalFeatures.Permute(0, 2, 3, 1).MatMul(weight.Permute(1, 0)).Mean([1, 2]).ToArray<float>();
        for (int i = 0; i < logits.Length; i++)
        {
            Assert.AreEqual(means[i], logits[i], 1e-4);
        }
    }

    [TestMethod]
    public void StateDictRoundTrip_GivesIdenticalOutputs()
    {
        using var scope = T.NewDisposeScope();
        using var a = new RrmNetwork(new MobileNetV1(0.25), 3);
        using var b = new RrmNetwork(new MobileNetV1(0.25), 3);
        using (T.NoGrad())
        {
            // Non-trivial BatchNorm statistics, so that buffers matter too.
            foreach (var (name, t) in a.StateDict().Where(kv => kv.Key.EndsWith("running_var", StringComparison.Ordinal)))
            {
                t.UniformInPlace(0.5, 2);
            }
        }

        a.Eval();
        b.Eval();
        var images = T.Randn([1, 3, 57, 50]);
        using var before = b.Forward(images);
        using var reference = a.Forward(images);
        CollectionAssert.AreNotEqual(reference.SegmentationLogits.ToArray<float>(), before.SegmentationLogits.ToArray<float>());

        Assert.AreEqual(0, b.LoadStateDict(a.StateDict()).Count);
        using var loaded = b.Forward(images);
        CollectionAssert.AreEqual(reference.ClassLogits.ToArray<float>(), loaded.ClassLogits.ToArray<float>());
        CollectionAssert.AreEqual(reference.Cam.ToArray<float>(), loaded.Cam.ToArray<float>());
        CollectionAssert.AreEqual(reference.SegmentationLogits.ToArray<float>(), loaded.SegmentationLogits.ToArray<float>());

        // The same through plain weight maps (the safetensors path).
        using var c = new RrmNetwork(new MobileNetV1(0.25), 3);
        c.Eval();
        Assert.AreEqual(0, ModelWeights.Load(c, ModelWeights.Export(a)).Count);
        using var mapped = c.Forward(images);
        CollectionAssert.AreEqual(reference.SegmentationLogits.ToArray<float>(), mapped.SegmentationLogits.ToArray<float>());
    }

    [TestMethod]
    public void ParameterGroups_PartitionTheNonBatchNormParametersWithRrmMultipliers()
    {
        using var scope = T.NewDisposeScope();
        // A classifier in the backbone gives it a bias, so that all four groups are non-empty.
        using var net = new RrmNetwork(new MobileNetV1(0.25, classes: 7), 3);
        var groups = net.ParameterGroups(weightDecay: 3e-5);
        CollectionAssert.AreEqual(new[] { "backbone.weight", "backbone.bias", "head.weight", "head.bias" }, groups.Select(g => g.Name).ToArray());
        CollectionAssert.AreEqual(new[] { 1.0, 2.0, 10.0, 20.0 }, groups.Select(g => g.LearningRateMultiplier).ToArray());
        CollectionAssert.AreEqual(new[] { 3e-5, 0, 3e-5, 0 }, groups.Select(g => g.WeightDecay).ToArray());

        var batchNorm = net.NamedModules().Where(m => m.Value is BatchNorm2d).SelectMany(m => m.Value.Parameters()).ToHashSet(ReferenceEqualityComparer.Instance);
        var expected = net.NamedParameters().Where(p => !batchNorm.Contains(p.Value)).ToList();
        var grouped = groups.SelectMany(g => g.Parameters).ToList();
        Assert.AreEqual(grouped.Count, grouped.ToHashSet(ReferenceEqualityComparer.Instance).Count, "no parameter in two groups");
        Assert.AreEqual(expected.Count, grouped.Count);
        foreach (var (name, p) in expected)
        {
            int group = Array.FindIndex(groups, g => g.Parameters.Any(q => ReferenceEquals(p, q)));
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
        using var scope = T.NewDisposeScope();
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
        using var scope = T.NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(frozenBatchNorm: true), 2);
        var groups = net.ParameterGroups();
        Assert.AreEqual(0, groups[1].Parameters.Count, "SmallCnn has no convolution biases");
        using var sgd = new Sgd(groups, 0.01);
        var segBias = net.StateDict()["segmentation.conv2.bias"];
        using var output = net.Forward(T.Randn([1, 3, 24, 24]));
        (output.ClassLogits.Sum() + output.SegmentationLogits.Select(1, 1).Sum()).Backward();
        var grad = segBias.Grad!.ToArray<float>();
        sgd.Step();
        // The head bias moves 20x the base rate: 0 - 0.01 * 20 * grad.
        var moved = segBias.ToArray<float>();
        for (int i = 0; i < grad.Length; i++)
        {
            Assert.AreEqual(-0.2 * grad[i], moved[i], 1e-5);
        }

        Assert.AreNotEqual(0f, grad[1]);
    }

    [TestMethod]
    public void MultiScaleCam_IsNormalisedMaskedAndDetached()
    {
        using var scope = T.NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(), 3);
        using (T.NoGrad())
        {
            // Larger class scores so that max / (max + 1e-5) is within 1e-4 of 1.
            net.Classifier.Weight.MulInPlace(20);
        }

        net.Train();
        var images = T.Randn([2, 3, 50, 45]);
        var labels = T.FromArray(new float[] { 1, 0, 1, 0, 1, 0 }, 2, 3);
        using var output = net.Forward(images);
        var cam = net.MultiScaleCam(images, labels, output.Cam);
        CollectionAssert.AreEqual(new long[] { 2, 3, 50, 45 }, cam.Shape.ToArray());
        Assert.IsFalse(cam.RequiresGrad);

        var maxima = cam.Amax([2, 3]).ToArray<float>();
        var minima = cam.Amin([2, 3]).ToArray<float>();
        var rawMaxima = output.Cam.Detach().Amax([2, 3]).ToArray<float>();
        float[] label = labels.ToArray<float>();
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
        using var scope = T.NewDisposeScope();
        using var net = new RrmNetwork(new SmallCnn(), 2);
        net.Eval();
        var images = T.Randn([1, 3, 48, 40]);
        var labels = T.FromArray(new float[] { 1, 1 }, 1, 2);
        var single = net.MultiScaleCam(images, labels, scales: []).ToArray<float>();
        var withOne = net.MultiScaleCam(images, labels, scales: [1.0]).ToArray<float>();
        var withCam1 = net.MultiScaleCam(images, labels, net.ForwardCam(images), scales: []).ToArray<float>();
        var multi = net.MultiScaleCam(images, labels).ToArray<float>();
        for (int i = 0; i < single.Length; i++)
        {
            Assert.AreEqual(single[i], withOne[i], 1e-5);
            Assert.AreEqual(single[i], withCam1[i], 1e-6);
        }

        Assert.IsTrue(single.Zip(multi).Any(p => Math.Abs(p.First - p.Second) > 1e-3), "other scales change the average");
        Assert.ThrowsExactly<ArgumentException>(() => net.MultiScaleCam(images, T.Ones([1, 3])));
    }
}
