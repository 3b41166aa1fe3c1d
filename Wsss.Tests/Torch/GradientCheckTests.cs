using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using static Wsss.Torch.Torch;
using F = Wsss.Torch.Functional;

namespace Wsss.Tests.Torch;

/// <summary>Autograd gradients of the network functions against central finite differences (Float64).</summary>
[TestClass]
public sealed class GradientCheckTests
{
    private static Tensor R(params long[] shape) => Randn(shape, DType.Float64);

    /// <summary>A fixed random projection turns a tensor output into a scalar with a generic gradient.</summary>
    private static Func<Tensor[], Tensor> Projected(Func<Tensor[], Tensor> f, Tensor projection) => xs => (f(xs) * projection).Sum();

    [TestMethod]
    public void Conv2dGradientsForInputWeightAndBias()
    {
        using var scope = NewDisposeScope();
        ManualSeed(21);
        // stride 2, padding 1, dilation 1, 2 groups: every code path of the backward kernel that RRM uses
        var x = R(2, 4, 5, 5);
        var w = R(4, 2, 3, 3);
        var b = R(4);
        var proj = R(2, 4, 3, 3);
        GradCheck.Verify(Projected(v => F.Conv2d(v[0], v[1], v[2], 2, 1, 1, 2), proj), [x, w, b]);
        var proj2 = R(1, 2, 5, 5);
        GradCheck.Verify(Projected(v => F.Conv2d(v[0], v[1], null, 1, 2, 2), proj2), [R(1, 2, 5, 5), R(2, 2, 3, 3)]);
    }

    [TestMethod]
    public void BatchNormTrainingModeGradients()
    {
        using var scope = NewDisposeScope();
        ManualSeed(22);
        var x = R(3, 2, 2, 3);
        var gamma = R(2);
        var beta = R(2);
        var proj = R(3, 2, 2, 3);
        // training mode: gradients flow through the batch mean and variance as well
        GradCheck.Verify(Projected(v => F.BatchNorm(v[0], null, null, v[1], v[2], training: true), proj), [x, gamma, beta]);
    }

    [TestMethod]
    public void BilinearInterpolateGradients()
    {
        using var scope = NewDisposeScope();
        ManualSeed(23);
        var x = R(1, 2, 3, 4);
        var up = R(1, 2, 7, 5);
        var down = R(1, 2, 2, 3);
        foreach (bool ac in new[] { false, true })
        {
            GradCheck.Verify(Projected(v => F.Interpolate(v[0], 7, 5, InterpolationMode.Bilinear, ac), up), [x]);
            GradCheck.Verify(Projected(v => F.Interpolate(v[0], 2, 3, InterpolationMode.Bilinear, ac), down), [x]);
        }
    }

    [TestMethod]
    public void SoftmaxAndLogSoftmaxGradients()
    {
        using var scope = NewDisposeScope();
        ManualSeed(24);
        var x = R(3, 5);
        var proj = R(3, 5);
        GradCheck.Verify(Projected(v => F.Softmax(v[0], 1), proj), [x]);
        GradCheck.Verify(Projected(v => F.Softmax(v[0], 0), proj), [x]);
        GradCheck.Verify(Projected(v => F.LogSoftmax(v[0], 1), proj), [x]);
    }

    [TestMethod]
    public void CrossEntropyGradientsWithWeightsAndIgnoredTargets()
    {
        using var scope = NewDisposeScope();
        ManualSeed(25);
        var logits = R(2, 3, 2, 2);
        var target = FromArray(new long[] { 0, 2, 255, 1, 1, 255, 0, 2 }, 2, 2, 2);
        var weight = FromArray(new double[] { 0.5, 2, 1.25 }, 3);
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum })
        {
            GradCheck.Verify(v => F.CrossEntropy(v[0], target, weight, 255, reduction), [logits]);
            GradCheck.Verify(v => F.CrossEntropy(v[0], target, null, 255, reduction), [logits]);
        }

        var proj = R(2, 2, 2);
        GradCheck.Verify(Projected(v => F.CrossEntropy(v[0], target, weight, 255, Reduction.None), proj), [logits]);
        GradCheck.Verify(v => F.MultilabelSoftMarginLoss(v[0], FromArray(new double[] { 1, 0, 1, 0, 0, 1 }, 2, 3)), [R(2, 3)]);
    }

    [TestMethod]
    public void GradCheckDetectsAWrongGradient()
    {
        using var scope = NewDisposeScope();
        ManualSeed(26);
        // The helper must be able to fail: sum(x * detach(x)) has value sum(x^2) (numeric gradient 2x) but
        // autograd sees only one factor (gradient x).
        var x = R(4);
        Assert.ThrowsExactly<AssertFailedException>(() =>
            GradCheck.Verify(v => (v[0] * v[0].Detach()).Sum(), [x]));
    }
}
