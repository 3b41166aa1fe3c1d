using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using F = Wsss.Torch.Functional;
using T = Wsss.Torch.Torch;

namespace Wsss.Tests.Torch;

/// <summary>
/// The native fast backward of dilated depthwise convolutions (used when gradients are recorded) against
/// libtorch's own convolution evaluated without gradients: the loss sum(r * conv(x, w) + r * b) is linear
/// in each of x, w and b, so a unit finite difference gives each gradient entry up to float rounding.
/// </summary>
[TestClass]
public sealed class DepthwiseDilatedConvTests
{
    [TestMethod]
    [DataRow(2L, 2L, 2L, 2L, DisplayName = "dilation 2, same padding")]
    [DataRow(4L, 2L, 4L, 2L, DisplayName = "dilation 4x2, same padding")]
    [DataRow(2L, 2L, 0L, 1L, DisplayName = "dilation 2, no padding (pre-padded input)")]
    public void GradientsMatchLibtorchConvolution(long dh, long dw, long ph, long pw)
    {
        using var scope = T.NewDisposeScope();
        T.ManualSeed(5);
        const long n = 2, c = 3, h = 9, w = 8;
        var x = T.Randn([n, c, h, w]);
        var weight = T.Randn([c, 1, 3, 3]);
        var bias = T.Randn([c]);
        x.RequiresGrad = true;
        weight.RequiresGrad = true;
        bias.RequiresGrad = true;
        var y = F.Conv2d(x, weight, bias, (1, 1), (ph, pw), (dh, dw), c);
        var r = T.Randn(y.Shape);
        (y * r).Sum().Backward();
        float[] gx = x.Grad!.ToArray<float>(), gw = weight.Grad!.ToArray<float>(), gb = bias.Grad!.ToArray<float>();

        float[] xs = x.Detach().ToArray<float>(), ws = weight.Detach().ToArray<float>(), bs = bias.Detach().ToArray<float>();
        double Loss(float[] xv, float[] wv, float[] bv)
        {
            using var noGrad = T.NoGrad();
            using var inner = T.NewDisposeScope();
            var out2 = F.Conv2d(T.FromArray(xv, n, c, h, w), T.FromArray(wv, c, 1, 3, 3), T.FromArray(bv, c), (1, 1), (ph, pw), (dh, dw), c);
            return (out2 * r.Detach()).Sum().Item();
        }

        double l0 = Loss(xs, ws, bs);
        double scale = Math.Abs(l0) + 1;
        for (int i = 0; i < ws.Length; i++)
        {
            var wp = (float[])ws.Clone();
            wp[i] += 1;
            Assert.AreEqual(Loss(xs, wp, bs) - l0, gw[i], 1e-4 * scale * 10, $"weight gradient {i}");
        }

        for (int i = 0; i < xs.Length; i += 7)
        {
            var xp = (float[])xs.Clone();
            xp[i] += 1;
            Assert.AreEqual(Loss(xp, ws, bs) - l0, gx[i], 1e-3 * scale, $"input gradient {i}");
        }

        for (int i = 0; i < bs.Length; i++)
        {
            var bp = (float[])bs.Clone();
            bp[i] += 1;
            Assert.AreEqual(Loss(xs, ws, bp) - l0, gb[i], 1e-3 * scale, $"bias gradient {i}");
        }

        Assert.IsTrue(gw.Any(v => Math.Abs(v) > 1e-3), "the weight gradient should not vanish");
    }
}
