using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Model;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Engine;

/// <summary>
/// The few behaviours of TorchSharp/libtorch that Wsss's own code builds on and states in its comments, checked
/// against values written out here. The old binding's tests of its tensor operations are gone with it (libtorch's
/// arithmetic is TorchSharp's to test); these stay because a change in them would silently change RRM's results.
/// </summary>
/// <remarks>Runs alone: the generator test needs libtorch's process-wide default generator to itself.</remarks>
[TestClass]
[DoNotParallelize]
public sealed class EngineContractTests
{
    [TestMethod]
    public void GeneratorState_RestoresTheSameRandomNumbers_AsCheckpointsNeed()
    {
        // Checkpoint saves get_rng_state() as a 1-D U8 tensor and restores it with set_rng_state (bit-equal resume).
        using var scope = NewDisposeScope();
        manual_seed(42);
        double[] a = Values(rand(5, ScalarType.Float64));
        manual_seed(42);
        CollectionAssert.AreEqual(a, Values(rand(5, ScalarType.Float64)), "manual_seed repeats the sequence");
        var state = get_rng_state();
        Assert.AreEqual(ScalarType.Byte, state.dtype);
        Assert.AreEqual(1L, state.dim());
        var saved = tensor(state.data<byte>().ToArray(), state.shape, ScalarType.Byte);
        double[] b = Values(randn(5, ScalarType.Float64));
        CollectionAssert.AreNotEqual(b, Values(randn(5, ScalarType.Float64)));
        set_rng_state(saved);
        CollectionAssert.AreEqual(b, Values(randn(5, ScalarType.Float64)), "the restored state continues where it was saved");
    }

    [TestMethod]
    public void BilinearInterpolation_AlignCornersFalse_IsPyTorchsHalfPixelRule()
    {
        // RRM (spec sections 2 and 4) upsamples CAMs and logits with align_corners=False: src = (dst + 0.5) * in/out - 0.5,
        // clamped at 0. For the 2x2 input [[0, 1], [2, 7]] to 4x4 the fractional positions are 0, 0.25, 0.75, 1.
        using var scope = NewDisposeScope();
        static double F(double tr, double tc) => ((1 - tr) * tc * 1) + (tr * (1 - tc) * 2) + (tr * tc * 7);
        double[] t = [0, 0.25, 0.75, 1];
        var y = nn.functional.interpolate(tensor(new double[] { 0, 1, 2, 7 }, [1, 1, 2, 2]), [4, 4], mode: InterpolationMode.Bilinear, align_corners: false);
        Close(t.SelectMany(r => t.Select(c => F(r, c))).ToArray(), y, 1e-12);
    }

    [TestMethod]
    public void HalfScaleBilinear_IsTheMeanOf2x2Blocks_AsDenseEnergyLossAssumes()
    {
        // DenseEnergyLoss downscales by 0.5 with avg_pool2d, stating that bilinear interpolation with scale 0.5 and
        // align_corners=False samples x_src = 2x + 0.5, the mean of each 2x2 block; for odd sizes the last row and
        // column drop out, as PyTorch's floor output size does.
        using var scope = NewDisposeScope();
        manual_seed(8);
        foreach (var (h, w) in new[] { (8L, 6L), (13L, 11L) })
        {
            var p = rand(2, 3, h, w, ScalarType.Float64);
            var pooled = nn.functional.avg_pool2d(p, [2, 2]);
            var bilinear = nn.functional.interpolate(p, scale_factor: [0.5, 0.5], mode: InterpolationMode.Bilinear, align_corners: false);
            Shape(pooled, 2, 3, h / 2, w / 2);
            Close(Values(bilinear), pooled, 1e-12, $"{h}x{w}");
        }
    }

    [TestMethod]
    public void ClassificationHeadDropout_DropsWholeChannelsInTraining_AndNothingInEvaluation()
    {
        // The head's Dropout2d (rate 0.5) zeroes whole feature channels and scales the others by 1 / (1 - p). With the
        // classifier picking channel k for class k, each logit is the pooled value of one channel: 0 or 1.5 / 0.5.
        using var scope = NewDisposeScope();
        manual_seed(3);
        const int channels = 64;
        using var head = new ClassificationHead(channels, channels, dropout: 0.5);
        using (no_grad())
        {
            head.Weight.copy_(eye(channels).reshape(channels, channels, 1, 1));
        }

        var features = full(new long[] { 4, channels, 3, 5 }, 1.5);
        head.train();
        float[] logits = Floats(head.forward(features));
        Assert.IsTrue(logits.All(v => v == 0 || Math.Abs(v - 3.0) < 1e-5), string.Join(", ", logits.Distinct()));
        int dropped = logits.Count(v => v == 0);
        Assert.IsTrue(dropped > 40 && dropped < 216, $"about half of {logits.Length} channels dropped, got {dropped}");
        head.eval();
        Assert.IsTrue(Floats(head.forward(features)).All(v => Math.Abs(v - 1.5) < 1e-6), "no dropout in evaluation");
        head.train();
        Assert.IsTrue(Floats(head.Cam(features)).All(v => Math.Abs(v - 1.5) < 1e-6), "the CAM never sees the dropout");
    }

    [TestMethod]
    public void GradCheck_CanFail()
    {
        // The gradient-check helper must be able to fail: sum(x * detach(x)) has value sum(x^2) (numeric gradient 2x)
        // but autograd sees only one factor (gradient x).
        using var scope = NewDisposeScope();
        manual_seed(26);
        Assert.ThrowsExactly<AssertFailedException>(() => GradCheck.Verify(v => (v[0] * v[0].detach()).sum(), [randn(4, ScalarType.Float64)]));
    }
}
