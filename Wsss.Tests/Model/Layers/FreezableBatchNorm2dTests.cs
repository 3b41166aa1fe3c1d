using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Model.Layers;
using Wsss.Tests.Engine;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Model.Layers;

/// <summary>
/// <see cref="FreezableBatchNorm2d"/> against values written out here: N=2, C=2, H=1, W=2 with channel 0 holding
/// 1, 2, 5, 6 (mean 3.5, biased variance 4.25, unbiased 17/3) and channel 1 holding 3, 4, 7, 8 (mean 5.5, same spread).
/// </summary>
[TestClass]
public sealed class FreezableBatchNorm2dTests
{
    private static readonly double[] X = [1, 2, 3, 4, 5, 6, 7, 8];

    private static Tensor Input() => tensor(X, [2, 2, 1, 2]);

    /// <summary>A Float64 layer with running mean (1, -1), variance (4, 0.25), weight (2, 3), bias (0.5, -0.5).</summary>
    private static FreezableBatchNorm2d Layer(double eps = 1e-5, double momentum = 0.1)
    {
        var bn = new FreezableBatchNorm2d(2, eps, momentum);
        bn.to(ScalarType.Float64);
        using (no_grad())
        {
            bn.RunningMean.copy_(tensor(new double[] { 1, -1 }));
            bn.RunningVar.copy_(tensor(new double[] { 4, 0.25 }));
            bn.Weight.copy_(tensor(new double[] { 2, 3 }));
            bn.Bias.copy_(tensor(new double[] { 0.5, -0.5 }));
        }

        return bn;
    }

    /// <summary>y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c, channel c = (i / 2) % 2.</summary>
    private static double[] Normalised(double[] mean, double[] variance, double eps, double[]? weight = null, double[]? bias = null) =>
        X.Select((v, i) =>
        {
            int c = (i / 2) % 2;
            return ((v - mean[c]) / Math.Sqrt(variance[c] + eps) * (weight?[c] ?? 1)) + (bias?[c] ?? 0);
        }).ToArray();

    [TestMethod]
    public void Frozen_UsesRunningStatisticsInTrainingMode_NeverUpdatesThem_AndGetsNoGradient()
    {
        using var scope = NewDisposeScope();
        using var bn = Layer(eps: 1e-3);
        bn.Frozen = true;
        bn.train();
        Assert.IsFalse(bn.Weight.requires_grad || bn.Bias.requires_grad);
        var x = Input().requires_grad_();
        var y = bn.forward(x);
        Close(Normalised([1, -1], [4, 0.25], 1e-3, [2, 3], [0.5, -0.5]), y, 1e-12, "running statistics, eps 1e-3");
        y.sum().backward();
        Assert.IsNull(bn.Weight.grad, "a frozen layer's weight gets no gradient");
        Assert.IsNull(bn.Bias.grad);
        // dy/dx = weight / sqrt(running_var + eps): the input still gets its gradient
        Close(X.Select((_, i) => (i / 2) % 2 == 0 ? 2 / Math.Sqrt(4.001) : 3 / Math.Sqrt(0.251)).ToArray(), x.grad!, 1e-12, "input gradient");

        Close([1, -1], bn.RunningMean, 0, what: "running mean untouched");
        Close([4, 0.25], bn.RunningVar, 0, what: "running variance untouched");
        Assert.AreEqual(0L, bn.NumBatchesTracked.item<long>(), "a frozen layer counts no batches");
        bn.eval();
        CollectionAssert.AreEqual(Values(y), Values(bn.forward(Input())), "frozen: the same in both modes");

        bn.Frozen = false;
        Assert.IsTrue(bn.Weight.requires_grad && bn.Bias.requires_grad, "unfreezing makes weight and bias trainable again");
    }

    [TestMethod]
    public void Trainable_NormalisesWithBatchStatistics_AndUpdatesTheRunningOnes()
    {
        using var scope = NewDisposeScope();
        const double m = 0.3, eps = 1e-5;
        using var bn = Layer(eps, m);
        bn.train();
        var y = bn.forward(Input());
        Close(Normalised([3.5, 5.5], [4.25, 4.25], eps, [2, 3], [0.5, -0.5]), y, 1e-12, "batch statistics (biased variance)");
        Close([((1 - m) * 1) + (m * 3.5), ((1 - m) * -1) + (m * 5.5)], bn.RunningMean, 1e-12, "running mean");
        Close([((1 - m) * 4) + (m * 17.0 / 3), ((1 - m) * 0.25) + (m * 17.0 / 3)], bn.RunningVar, 1e-12, "the running variance takes the unbiased batch variance");
        Assert.AreEqual(1L, bn.NumBatchesTracked.item<long>());
        _ = bn.forward(Input());
        Assert.AreEqual(2L, bn.NumBatchesTracked.item<long>(), "one count per training-mode forward");

        y.sum().backward();
        Assert.IsNotNull(bn.Weight.grad);
        // d sum(y) / d bias_c = number of elements of channel c (4); d sum(y) / d weight_c = sum of the normalised values = 0
        Close([4, 4], bn.Bias.grad!, 1e-12);
        Close([0, 0], bn.Weight.grad!, 1e-9);

        // Evaluation mode: the running statistics, no update, no count.
        bn.eval();
        double[] mean = Values(bn.RunningMean), variance = Values(bn.RunningVar);
        Close(Normalised(mean, variance, eps, [2, 3], [0.5, -0.5]), bn.forward(Input()), 1e-12, "eval");
        CollectionAssert.AreEqual(mean, Values(bn.RunningMean));
        Assert.AreEqual(2L, bn.NumBatchesTracked.item<long>());
    }

    [TestMethod]
    public void WithoutTrackingRunningStatistics_NormalisesWithTheBatch_AndLeavesTheStatisticsAlone()
    {
        // RRM's CAM-only forwards at other scales: batch statistics as in training, but not folded into the running ones.
        using var scope = NewDisposeScope();
        using var bn = Layer();
        bn.train();
        bn.TrackRunningStatistics = false;
        var x = Input().requires_grad_();
        var y = bn.forward(x);
        Close(Normalised([3.5, 5.5], [4.25, 4.25], 1e-5, [2, 3], [0.5, -0.5]), y, 1e-12);
        Close([1, -1], bn.RunningMean, 0);
        Close([4, 0.25], bn.RunningVar, 0);
        Assert.AreEqual(0L, bn.NumBatchesTracked.item<long>());
        GradCheck.Verify(v => (bn.forward(v[0]) * tensor(new double[] { 1, -2, 3, 0.5, -1, 2, 0.25, 4 }, [2, 2, 1, 2])).sum(), [Input()]);
        bn.TrackRunningStatistics = true;
        _ = bn.forward(Input());
        Assert.AreEqual(1L, bn.NumBatchesTracked.item<long>(), "tracking again once switched back");
    }

    [TestMethod]
    public void TrainingModeGradients_MatchFiniteDifferences()
    {
        // Gradients flow through the batch mean and variance as well.
        using var scope = NewDisposeScope();
        manual_seed(22);
        using var bn = Layer();
        bn.train();
        var projection = randn(3, 2, 2, 3, ScalarType.Float64);
        GradCheck.Verify(v => (bn.forward(v[0]) * projection).sum(), [randn(3, 2, 2, 3, ScalarType.Float64)]);
    }

    [TestMethod]
    public void StateDictNames_ArePyTorchs()
    {
        using var bn = new FreezableBatchNorm2d(3);
        CollectionAssert.AreEqual(new[] { "weight", "bias" }, bn.named_parameters().Select(p => p.name).ToArray());
        CollectionAssert.AreEquivalent(new[] { "running_mean", "running_var", "num_batches_tracked" }, bn.named_buffers().Select(b => b.name).ToArray());
        var state = bn.state_dict();
        CollectionAssert.AreEquivalent(new[] { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" }, state.Keys.ToArray());
        CollectionAssert.AreEqual(new float[] { 1, 1, 1 }, Floats(state["weight"]));
        CollectionAssert.AreEqual(new float[] { 0, 0, 0 }, Floats(state["bias"]));
        CollectionAssert.AreEqual(new float[] { 0, 0, 0 }, Floats(state["running_mean"]));
        CollectionAssert.AreEqual(new float[] { 1, 1, 1 }, Floats(state["running_var"]));
        Assert.AreEqual(ScalarType.Int64, state["num_batches_tracked"].dtype);
        Assert.AreEqual(0L, state["num_batches_tracked"].dim());
        Assert.AreEqual(1e-5, bn.Eps);
        Assert.AreEqual(0.1, bn.Momentum);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new FreezableBatchNorm2d(0));
    }

    [TestMethod]
    public void FrozenAffine_EqualsTheLayer()
    {
        // MobileNetV1 folds a frozen layer into the convolution before it as y = x * scale + shift.
        using var scope = NewDisposeScope();
        using var bn = Layer(eps: 1e-3);
        Assert.ThrowsExactly<InvalidOperationException>(() => bn.FrozenAffine(), "only a frozen layer is a fixed affine map");
        bn.Frozen = true;
        bn.train();
        var (scale, shift) = bn.FrozenAffine();
        Assert.IsFalse(scale.requires_grad || shift.requires_grad, "no gradient history");
        Close([2 / Math.Sqrt(4.001), 3 / Math.Sqrt(0.251)], scale, 1e-12);
        Close([0.5 - (1 * 2 / Math.Sqrt(4.001)), -0.5 - (-1 * 3 / Math.Sqrt(0.251))], shift, 1e-12);
        var x = randn(3, 2, 4, 5, ScalarType.Float64);
        var folded = (x * scale.reshape(1, 2, 1, 1)) + shift.reshape(1, 2, 1, 1);
        Close(Values(bn.forward(x)), folded, 1e-12);
    }
}
