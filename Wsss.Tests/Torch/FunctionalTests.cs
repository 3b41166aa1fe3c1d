using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using static Wsss.Tests.Torch.TorchAssert;
using static Wsss.Torch.Torch;
using F = Wsss.Torch.Functional;

namespace Wsss.Tests.Torch;

[TestClass]
public sealed class FunctionalTests
{
    private static double[] Seq(int n, double start = 1, double step = 1) => Enumerable.Range(0, n).Select(i => start + i * step).ToArray();

    /// <summary>Direct-loop convolution (cross-correlation, zero padding) on NCHW data.</summary>
    private static double[] ReferenceConv(double[] x, int n, int c, int h, int w, double[] k, int o, int kh, int kw, double[]? bias,
        int stride, int pad, int dil, int groups, out int oh, out int ow)
    {
        oh = (h + 2 * pad - dil * (kh - 1) - 1) / stride + 1;
        ow = (w + 2 * pad - dil * (kw - 1) - 1) / stride + 1;
        int cg = c / groups, og = o / groups;
        var y = new double[n * o * oh * ow];
        for (int b = 0; b < n; b++)
        for (int oc = 0; oc < o; oc++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            double s = bias?[oc] ?? 0;
            int g = oc / og;
            for (int ic = 0; ic < cg; ic++)
            for (int u = 0; u < kh; u++)
            for (int v = 0; v < kw; v++)
            {
                int yy = i * stride - pad + u * dil, xx = j * stride - pad + v * dil;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                s += x[((b * c) + g * cg + ic) * h * w + yy * w + xx] * k[((oc * cg) + ic) * kh * kw + u * kw + v];
            }

            y[((b * o) + oc) * oh * ow + i * ow + j] = s;
        }

        return y;
    }

    [TestMethod]
    public void Conv2dTinyExampleByHand()
    {
        using var scope = NewDisposeScope();
        // x = [[1,2,3],[4,5,6],[7,8,9]], k = [[1,2],[3,4]]:
        // y00 = 1+4+12+20 = 37, y01 = 2+6+15+24 = 47, y10 = 4+10+21+32 = 67, y11 = 5+12+24+36 = 77
        var x = FromArray(Seq(9), 1, 1, 3, 3);
        var k = FromArray(new double[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        Close([37, 47, 67, 77], F.Conv2d(x, k));
        Close([37.5, 47.5, 67.5, 77.5], F.Conv2d(x, k, FromArray(new double[] { 0.5 }, 1), stride: 1));
        // padding 1, stride 2: outputs at padded positions (0,0), (0,2), (2,0), (2,2); y00 sees only x00 under k11
        // y01 = 3*x01 + 4*x02 = 18, y10 = 2*x10 + 4*x20 = 36, y11 = 5 + 12 + 24 + 36 = 77
        Close([4, 18, 36, 77], F.Conv2d(x, k, null, 2, 1), what: "stride 2 padding 1");
    }

    [TestMethod]
    public void Conv2dStridePaddingDilationGroupsBiasMatchDirectLoops()
    {
        using var scope = NewDisposeScope();
        ManualSeed(11);
        var cases = new (int N, int C, int H, int W, int O, int K, int S, int P, int D, int G, bool Bias)[]
        {
            (1, 2, 5, 5, 3, 3, 1, 0, 1, 1, true),
            (2, 2, 6, 5, 2, 3, 2, 1, 1, 1, true),
            (1, 1, 7, 7, 2, 3, 1, 2, 2, 1, false),
            (1, 4, 5, 4, 6, 3, 1, 1, 1, 2, true),
            (2, 3, 4, 4, 3, 2, 2, 0, 1, 3, true),   // depthwise
        };
        foreach (var cs in cases)
        {
            var x = Randn([cs.N, cs.C, cs.H, cs.W], DType.Float64);
            var k = Randn([cs.O, cs.C / cs.G, cs.K, cs.K], DType.Float64);
            var b = cs.Bias ? Randn([cs.O], DType.Float64) : null;
            var expected = ReferenceConv(x.ToArray<double>(), cs.N, cs.C, cs.H, cs.W, k.ToArray<double>(), cs.O, cs.K, cs.K, b?.ToArray<double>(),
                cs.S, cs.P, cs.D, cs.G, out int oh, out int ow);
            var y = F.Conv2d(x, k, b, cs.S, cs.P, cs.D, cs.G);
            Shape(y, cs.N, cs.O, oh, ow);
            Close(expected, y, 1e-10, cs.ToString());
        }

        // rectangular stride/padding through the tuple overload: H stride 2 pad 0, W stride 1 pad 1
        var x2 = Randn([1, 1, 5, 4], DType.Float64);
        var k2 = Randn([1, 1, 3, 3], DType.Float64);
        var y2 = F.Conv2d(x2, k2, null, stride: (2, 1), padding: (0, 1));
        Shape(y2, 1, 1, 2, 4);
    }

    [TestMethod]
    public void BatchNormEvalUsesRunningStatistics()
    {
        using var scope = NewDisposeScope();
        // N=2, C=2, H=1, W=2; channel 0 values 1,2,5,6; channel 1 values 3,4,7,8
        var x = FromArray(new double[] { 1, 2, 3, 4, 5, 6, 7, 8 }, 2, 2, 1, 2);
        var rm = FromArray(new double[] { 1, -1 }, 2);
        var rv = FromArray(new double[] { 4, 0.25 }, 2);
        var w = FromArray(new double[] { 2, 3 }, 2);
        var b = FromArray(new double[] { 0.5, -0.5 }, 2);
        double eps = 1e-5;
        var y = F.BatchNorm(x, rm, rv, w, b, training: false, eps: eps);
        double s0 = 2 / Math.Sqrt(4 + eps), s1 = 3 / Math.Sqrt(0.25 + eps);
        double[] expected =
        [
            (1 - 1) * s0 + 0.5, (2 - 1) * s0 + 0.5, (3 + 1) * s1 - 0.5, (4 + 1) * s1 - 0.5,
            (5 - 1) * s0 + 0.5, (6 - 1) * s0 + 0.5, (7 + 1) * s1 - 0.5, (8 + 1) * s1 - 0.5,
        ];
        Close(expected, y, 1e-12);
        Close([1, -1], rm, what: "eval leaves the running mean alone");
        Close([4, 0.25], rv, what: "eval leaves the running variance alone");
    }

    [TestMethod]
    public void BatchNormTrainNormalisesWithBatchStatisticsAndUpdatesRunningOnes()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new double[] { 1, 2, 3, 4, 5, 6, 7, 8 }, 2, 2, 1, 2);
        var rm = FromArray(new double[] { 1, -1 }, 2);
        var rv = FromArray(new double[] { 4, 0.25 }, 2);
        double eps = 1e-5, m = 0.3;
        var y = F.BatchNorm(x, rm, rv, null, null, training: true, momentum: m, eps: eps);
        // channel 0: {1,2,5,6} mean 3.5, biased var (6.25+2.25+2.25+6.25)/4 = 4.25, unbiased 17/3
        // channel 1: {3,4,7,8} mean 5.5, same spread
        double inv = 1 / Math.Sqrt(4.25 + eps);
        double[] expected = [-2.5 * inv, -1.5 * inv, -2.5 * inv, -1.5 * inv, 1.5 * inv, 2.5 * inv, 1.5 * inv, 2.5 * inv];
        Close(expected, y, 1e-12);
        Close([(1 - m) * 1 + m * 3.5, (1 - m) * -1 + m * 5.5], rm, 1e-12, "running mean");
        Close([(1 - m) * 4 + m * 17.0 / 3, (1 - m) * 0.25 + m * 17.0 / 3], rv, 1e-12, "running variance uses the unbiased batch variance");
    }

    [TestMethod]
    public void Relu6AndLeakyRelu()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new float[] { -2, -0.5f, 0, 3, 6, 7.5f }, 6);
        Close([0, 0, 0, 3, 6, 6], F.Relu6(x));
        Close([-0.2, -0.05, 0, 3, 6, 7.5], F.LeakyRelu(x, 0.1));
        Close([-0.02, -0.005, 0, 3, 6, 7.5], F.LeakyRelu(x));
        Close([0, 0, 0, 3, 6, 7.5], F.Relu(x));
    }

    [TestMethod]
    public void Dropout2dZeroesWholeChannelsAndScales()
    {
        using var scope = NewDisposeScope();
        ManualSeed(3);
        const int n = 4, c = 16, hw = 9;
        var x = Full([n, c, 3, 3], 1.5);
        double p = 0.25;
        var v = F.Dropout2d(x, p, training: true).ToArray<float>();
        int kept = 0, dropped = 0;
        for (int ch = 0; ch < n * c; ch++)
        {
            var channel = v.Skip(ch * hw).Take(hw).Distinct().ToArray();
            Assert.AreEqual(1, channel.Length, $"channel {ch} is not uniform: {string.Join(",", channel)}");
            if (channel[0] == 0) dropped++;
            else
            {
                Assert.AreEqual(1.5 / (1 - p), channel[0], 1e-6, "kept channels are scaled by 1/(1-p)");
                kept++;
            }
        }

        Assert.IsTrue(kept > 0 && dropped > 0, $"kept {kept}, dropped {dropped} of {n * c}");
        CollectionAssert.AreEqual(x.ToArray<float>(), F.Dropout2d(x, p, training: false).ToArray<float>(), "eval is the identity");
        Assert.IsTrue(F.Dropout2d(x, 1.0).ToArray<float>().All(e => e == 0), "p = 1 drops everything");

        var e = F.Dropout(Full([1000], 1.0), 0.5).ToArray<float>();
        Assert.IsTrue(e.All(a => a == 0 || a == 2), "element dropout: 0 or 1/(1-p)");
        Assert.IsTrue(e.Count(a => a == 0) is > 350 and < 650, "about half dropped");
        Assert.ThrowsExactly<WsssNativeException>(() => F.Dropout(x, 1.5));
    }

    [TestMethod]
    public void AdaptiveAvgPoolMaxPoolAvgPool()
    {
        using var scope = NewDisposeScope();
        var x4 = Arange(0, 16, dtype: DType.Float32).Reshape(1, 1, 4, 4);
        Close([2.5, 4.5, 10.5, 12.5], F.AdaptiveAvgPool2d(x4, 2, 2));
        Close([7.5], F.AdaptiveAvgPool2d(x4, 1, 1));
        // 3x3 -> 2x2 uses overlapping bins [0,2) and [1,3) in each direction
        var x3 = Arange(0, 9, dtype: DType.Float32).Reshape(1, 1, 3, 3);
        Close([2, 3, 5, 6], F.AdaptiveAvgPool2d(x3, 2, 2));
        Close([5, 7, 13, 15], F.MaxPool2d(x4, 2));
        Close([4, 5, 5, 7, 8, 8, 7, 8, 8], F.MaxPool2d(x3, 3, stride: 1, padding: 1));
        Close([4], F.MaxPool2d(x3, 2), what: "floor mode: one window");
        Close([4, 5, 7, 8], F.MaxPool2d(x3, 2, ceilMode: true), what: "ceil mode: partial windows at the border");
        Close([2.5, 4.5, 10.5, 12.5], F.AvgPool2d(x4, 2));
        // padded average: corner window (pad 1, kernel 2, stride 2) sees x00 and three zeros
        // padded average (pad 1, kernel 2, stride 2, zeros counted): corner window sees x00 and three zeros
        Close([0, 0.75, 0.75, 3, 7.5, 4.5, 3, 6.75, 3.75], F.AvgPool2d(x4, 2, 2, 1), what: "count_include_pad");
    }

    [TestMethod]
    public void InterpolateBilinearBothCornerConventions()
    {
        using var scope = NewDisposeScope();
        // f(r, c) for the 2x2 input [[0, 1], [2, 7]] at fractional position (tr, tc) in [0, 1]^2
        static double Bilinear(double tr, double tc) => (1 - tr) * tc * 1 + tr * (1 - tc) * 2 + tr * tc * 7;
        var x = FromArray(new double[] { 0, 1, 2, 7 }, 1, 1, 2, 2);

        // align_corners=false: src = (dst + 0.5) * 2/4 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped into [0, 1]
        double[] tFalse = [0, 0.25, 0.75, 1];
        // align_corners=true: src = dst * (2-1)/(4-1)
        double[] tTrue = [0, 1.0 / 3, 2.0 / 3, 1];
        var yFalse = F.Interpolate(x, 4, 4, InterpolationMode.Bilinear, alignCorners: false);
        var yTrue = F.Interpolate(x, 4, 4, InterpolationMode.Bilinear, alignCorners: true);
        Shape(yFalse, 1, 1, 4, 4);
        Close(tFalse.SelectMany(r => tFalse.Select(c => Bilinear(r, c))).ToArray(), yFalse, 1e-12, "align_corners=false");
        Close(tTrue.SelectMany(r => tTrue.Select(c => Bilinear(r, c))).ToArray(), yTrue, 1e-12, "align_corners=true");
        // spot values written out: false (1,2): tr=.25, tc=.75 -> .75*.75 + .25*.25*2 + .25*.75*7 = 2
        Assert.AreEqual(2.0, yFalse.Select(2, 1).Select(2, 2).Item(), 1e-12);
        // true (1,1): tr=tc=1/3 -> (2/9) + (4/9) + (7/9) = 13/9
        Assert.AreEqual(13.0 / 9, yTrue.Select(2, 1).Select(2, 1).Item(), 1e-12);

        // downsampling 3x3 -> 2x2, align_corners=true picks the corners exactly
        var x3 = Arange(0, 9, dtype: DType.Float64).Reshape(1, 1, 3, 3);
        Close([0, 2, 6, 8], F.Interpolate(x3, 2, 2, InterpolationMode.Bilinear, alignCorners: true), 1e-12);
        // align_corners=false: src = (dst + .5) * 1.5 - .5 = 0.25, 1.75 -> rows/cols mix linearly: v = 3r + c
        Close([3 * 0.25 + 0.25, 3 * 0.25 + 1.75, 3 * 1.75 + 0.25, 3 * 1.75 + 1.75], F.Interpolate(x3, 2, 2, InterpolationMode.Bilinear), 1e-12);
    }

    [TestMethod]
    public void InterpolateNearest()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        // src = floor(dst * 2 / 4) = 0, 0, 1, 1
        Close([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4], F.Interpolate(x, 4, 4));
        // 3x3 -> 2x2: src = floor(dst * 1.5) = 0, 1
        var x3 = Arange(0, 9, dtype: DType.Float32).Reshape(1, 1, 3, 3);
        Close([0, 1, 3, 4], F.Interpolate(x3, 2, 2, InterpolationMode.Nearest));
        // non-square: 2x2 -> 2x3: columns floor(dst * 2/3) = 0, 0, 1
        Close([1, 1, 2, 3, 3, 4], F.Interpolate(x, 2, 3));
        Assert.ThrowsExactly<ArgumentException>(() => F.Interpolate(x, 4, 4, InterpolationMode.Nearest, alignCorners: true));
        var ex = Assert.ThrowsExactly<WsssNativeException>(() => F.Interpolate(x.Reshape(4), 2, 2));
        StringAssert.Contains(ex.Message, "4-d");
    }

    [TestMethod]
    public void SoftmaxAndLogSoftmax()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new double[] { 1, 2, 3, -1, 0, 1000 }, 2, 3);
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Close([Math.Exp(1) / z, Math.Exp(2) / z, Math.Exp(3) / z, 0, 0, 1], F.Softmax(x, 1), 1e-12);
        Close([1 - Math.Log(z), 2 - Math.Log(z), 3 - Math.Log(z), -1001, -1000, 0], F.LogSoftmax(x, -1), 1e-9, "log-softmax is stable for large logits");
        // over dim 0, pairs (1,-1), (2,0), (3,1000)
        double p = 1 / (1 + Math.Exp(-2));
        Close([p, p, 0, 1 - p, 1 - p, 1], F.Softmax(x, 0), 1e-12);
        Close(Enumerable.Repeat(1.0, 3).ToArray(), F.Softmax(x, 0).Sum(0), 1e-12);
    }

    [TestMethod]
    public void CrossEntropyWithIgnoreIndexWeightsAndEachReduction()
    {
        using var scope = NewDisposeScope();
        double[][] logits = [[2, 0, -1], [0.5, 0.5, 3], [1, 2, 3], [-2, 1, 0]];
        long[] target = [0, 2, -100, 1];
        var x = FromArray(logits.SelectMany(r => r).ToArray(), 4, 3);
        var t = FromArray(target, 4);
        double Nll(int i) => -(logits[i][target[i]] - Math.Log(logits[i].Sum(Math.Exp)));
        double[] l = [Nll(0), Nll(1), 0, Nll(3)];

        Close(l, F.CrossEntropy(x, t, reduction: Reduction.None), 1e-12, "none: ignored sample gives 0");
        Assert.AreEqual(l.Sum(), F.CrossEntropy(x, t, reduction: Reduction.Sum).Item(), 1e-12);
        Assert.AreEqual(l.Sum() / 3, F.CrossEntropy(x, t).Item(), 1e-12, "mean over the 3 non-ignored samples");

        double[] w = [0.2, 1.5, 3];
        var wt = FromArray(w, 3);
        double[] lw = [w[0] * l[0], w[2] * l[1], 0, w[1] * l[3]];
        Close(lw, F.CrossEntropy(x, t, wt, reduction: Reduction.None), 1e-12);
        Assert.AreEqual(lw.Sum(), F.CrossEntropy(x, t, wt, reduction: Reduction.Sum).Item(), 1e-12);
        Assert.AreEqual(lw.Sum() / (w[0] + w[2] + w[1]), F.CrossEntropy(x, t, wt).Item(), 1e-12, "weighted mean divides by the weights of the counted targets");

        // a custom ignore index (255, as in segmentation labels) on (N, C, H, W) input
        var x4 = x.Reshape(1, 4, 3).Permute(0, 2, 1).Unsqueeze(3);   // (1, 3, 4, 1): pixel i has logits[i]
        var t4 = FromArray(new long[] { 0, 255, 255, 1 }, 1, 4, 1);
        Assert.AreEqual((l[0] + l[3]) / 2, F.CrossEntropy(x4, t4, ignoreIndex: 255).Item(), 1e-12);
        Assert.IsTrue(double.IsNaN(F.CrossEntropy(x4, Full([1, 4, 1], 255, DType.Int64), ignoreIndex: 255).Item()), "all ignored: NaN as in PyTorch");
    }

    [TestMethod]
    public void MultilabelSoftMarginLossMatchesItsFormula()
    {
        using var scope = NewDisposeScope();
        double[] xs = [1.5, -0.5, 0, 2, -3, 0.25];
        double[] ys = [1, 0, 1, 0, 0, 1];
        var x = FromArray(xs, 2, 3);
        var y = FromArray(ys, 2, 3);
        static double LogSigmoid(double v) => -Math.Log(1 + Math.Exp(-v));
        double Sample(int n, double[]? w = null) =>
            -Enumerable.Range(0, 3).Sum(c => (w?[c] ?? 1) * (ys[n * 3 + c] * LogSigmoid(xs[n * 3 + c]) + (1 - ys[n * 3 + c]) * LogSigmoid(-xs[n * 3 + c]))) / 3;
        Close([Sample(0), Sample(1)], F.MultilabelSoftMarginLoss(x, y, reduction: Reduction.None), 1e-12);
        Assert.AreEqual((Sample(0) + Sample(1)) / 2, F.MultilabelSoftMarginLoss(x, y).Item(), 1e-12);
        Assert.AreEqual(Sample(0) + Sample(1), F.MultilabelSoftMarginLoss(x, y, reduction: Reduction.Sum).Item(), 1e-12);
        double[] w = [1, 2, 0.5];
        Assert.AreEqual((Sample(0, w) + Sample(1, w)) / 2, F.MultilabelSoftMarginLoss(x, y, FromArray(w, 3)).Item(), 1e-12);
    }

    [TestMethod]
    public void PadModes()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new float[] { 1, 2, 3 }, 1, 1, 3);
        Close([9, 1, 2, 3, 9, 9], F.Pad(x, [1, 2], PadMode.Constant, 9));
        Close([2, 1, 2, 3, 2], F.Pad(x, [1, 1], PadMode.Reflect));
        Close([1, 1, 2, 3, 3, 3], F.Pad(x, [1, 2], PadMode.Replicate));
    }
}
