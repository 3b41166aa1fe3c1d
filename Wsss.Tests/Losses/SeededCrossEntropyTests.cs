using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Losses;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Losses;

[TestClass]
public sealed class SeededCrossEntropyTests
{
    private static double LogSumExp(double[] z) => Math.Log(z.Sum(Math.Exp));

    /// <summary>Logits (2, 3, 2, 2) at the label size, labels mixing background, two classes and 255.</summary>
    [TestMethod]
    public void BalancedTerms_MatchHandComputation_AndTheGradient()
    {
        var rng = new Random(7);
        double[] logits = Enumerable.Range(0, 2 * 3 * 4).Select(_ => (rng.NextDouble() * 4) - 2).ToArray();
        long[] labels = [0, 255, 2, 0, /* image 2 */ 1, 0, 255, 2];
        double Pixel(int n, int i, long c)
        {
            double[] z = Enumerable.Range(0, 3).Select(k => logits[(((n * 3) + k) * 4) + i]).ToArray();
            return LogSumExp(z) - z[c];
        }

        // background: (0,0), (0,3), (1,1); foreground: (0,2) class 2, (1,0) class 1, (1,3) class 2.
        double bg = (Pixel(0, 0, 0) + Pixel(0, 3, 0) + Pixel(1, 1, 0)) / 3;
        double fg = (Pixel(0, 2, 2) + Pixel(1, 0, 1) + Pixel(1, 3, 2)) / 3;

        using var scope = NewDisposeScope();
        Tensor x = tensor(logits, [2, 3, 2, 2], requires_grad: true);
        using SeededCrossEntropyResult r = SeededCrossEntropy.Compute(x, tensor(labels, [2, 2, 2]));
        Assert.AreEqual(bg, r.Background.ToDouble(), 1e-12);
        Assert.AreEqual(fg, r.Foreground.ToDouble(), 1e-12);
        Assert.AreEqual(bg + fg, r.Total.ToDouble(), 1e-12);

        // d/dz = (softmax - onehot) / |group| on labelled pixels, 0 on 255.
        r.Total.backward();
        double[] grad = Values(x.grad!);
        for (int n = 0; n < 2; n++)
        {
            for (int i = 0; i < 4; i++)
            {
                long label = labels[(n * 4) + i];
                double[] z = Enumerable.Range(0, 3).Select(k => logits[(((n * 3) + k) * 4) + i]).ToArray();
                double lse = LogSumExp(z);
                for (int k = 0; k < 3; k++)
                {
                    double expected = label == 255 ? 0 : (Math.Exp(z[k] - lse) - (k == label ? 1 : 0)) / 3;
                    Assert.AreEqual(expected, grad[(((n * 3) + k) * 4) + i], 1e-12, $"n {n} pixel {i} class {k}");
                }
            }
        }
    }

    /// <summary>Class-balanced foreground: the mean of the per-class means; background and gradients follow.</summary>
    [TestMethod]
    public void ClassBalancedForeground_AveragesPerClassMeans()
    {
        var rng = new Random(3);
        double[] logits = Enumerable.Range(0, 2 * 3 * 4).Select(_ => (rng.NextDouble() * 4) - 2).ToArray();
        long[] labels = [0, 255, 2, 0, /* image 2 */ 1, 0, 255, 2];
        double Pixel(int n, int i, long c)
        {
            double[] z = Enumerable.Range(0, 3).Select(k => logits[(((n * 3) + k) * 4) + i]).ToArray();
            return LogSumExp(z) - z[c];
        }

        double bg = (Pixel(0, 0, 0) + Pixel(0, 3, 0) + Pixel(1, 1, 0)) / 3;
        double fg = (Pixel(1, 0, 1) + ((Pixel(0, 2, 2) + Pixel(1, 3, 2)) / 2)) / 2;
        using var scope = NewDisposeScope();
        Tensor x = tensor(logits, [2, 3, 2, 2], requires_grad: true);
        using SeededCrossEntropyResult r = SeededCrossEntropy.Compute(x, tensor(labels, [2, 2, 2]), classBalanced: true);
        Assert.AreEqual(bg, r.Background.ToDouble(), 1e-12);
        Assert.AreEqual(fg, r.Foreground.ToDouble(), 1e-12);
        r.Total.backward();
        double[] grad = Values(x.grad!);
        // The class-1 pixel (1, 0) weighs 1/2 in the foreground term; each class-2 pixel 1/4.
        double[] z10 = Enumerable.Range(0, 3).Select(k => logits[((3 + k) * 4) + 0]).ToArray();
        double lse = LogSumExp(z10);
        Assert.AreEqual((Math.Exp(z10[1] - lse) - 1) / 2, grad[((3 + 1) * 4) + 0], 1e-12);

        // No foreground pixel: the term is 0, finite.
        using SeededCrossEntropyResult none = SeededCrossEntropy.Compute(x, zeros([2, 2, 2], ScalarType.Int64), classBalanced: true);
        Assert.AreEqual(0.0, none.Foreground.ToDouble());
    }

    /// <summary>Logits constant in space upsample to the same constant, so each pixel's loss is known.</summary>
    [TestMethod]
    public void LogitsAreUpsampledBilinearlyToTheLabels()
    {
        double[] z = [0.3, -1.2, 2.0];
        using var scope = NewDisposeScope();
        Tensor x = tensor(z, [1, 3, 1, 1]);
        long[] labels = [0, 2, 255, 1, 0, 2];
        using SeededCrossEntropyResult r = SeededCrossEntropy.Compute(x, tensor(labels, [1, 3, 2]));
        double lse = LogSumExp(z);
        long[] seen = labels;
        double[] bgPixels = seen.Where(l => l == 0).Select(_ => lse - z[0]).ToArray();
        double[] fgPixels = seen.Where(l => l is > 0 and < 255).Select(l => lse - z[l]).ToArray();
        Assert.AreEqual(bgPixels.Average(), r.Background.ToDouble(), 1e-12);
        Assert.AreEqual(fgPixels.Average(), r.Foreground.ToDouble(), 1e-12);

        // A real resize: 2x2 logits to 4x4 labels gives a (1, 3, 4, 4) problem whose all-background
        // loss equals the mean over the bilinearly resized logits.
        Tensor small = tensor(new double[] { 0, 1, 2, 3, 1, 0, -1, 0, 2, 2, 0, 0 }, [1, 3, 2, 2]);
        using SeededCrossEntropyResult all = SeededCrossEntropy.Compute(small, zeros([1, 4, 4], ScalarType.Int64));
        Tensor up = nn.functional.interpolate(small, [4, 4], mode: InterpolationMode.Bilinear, align_corners: false);
        double expected = nn.functional.cross_entropy(up, zeros([1, 4, 4], ScalarType.Int64)).ToDouble();
        Assert.AreEqual(expected, all.Total.ToDouble(), 1e-12);
        Assert.AreEqual(0.0, all.Foreground.ToDouble());
    }

    [TestMethod]
    public void AllUnlabelled_GivesZero_AndAZeroFiniteGradient()
    {
        using var scope = NewDisposeScope();
        Tensor x = randn([2, 4, 3, 3], requires_grad: true);
        using SeededCrossEntropyResult r = SeededCrossEntropy.Compute(x, full([2, 6, 6], 255, ScalarType.Int64));
        Assert.AreEqual(0.0, r.Total.ToDouble());
        Assert.AreEqual(0.0, r.Background.ToDouble());
        Assert.AreEqual(0.0, r.Foreground.ToDouble());
        r.Total.backward();
        float[] g = Floats(x.grad!);
        Assert.IsTrue(g.All(v => v == 0f), "every gradient entry is exactly 0");
    }

    [TestMethod]
    public void AnEmptyGroup_IsSkipped()
    {
        using var scope = NewDisposeScope();
        Tensor x = randn([1, 3, 2, 2], requires_grad: true);
        // No background pixel: the total is the foreground mean alone, finite.
        Tensor labels = tensor(new long[] { 1, 2, 255, 1 }, [1, 2, 2]);
        using SeededCrossEntropyResult r = SeededCrossEntropy.Compute(x, labels);
        Assert.AreEqual(0.0, r.Background.ToDouble());
        double fg = nn.functional.cross_entropy(x, labels, ignore_index: 255).ToDouble();
        Assert.AreEqual(fg, r.Foreground.ToDouble(), 1e-6);
        Assert.AreEqual(fg, r.Total.ToDouble(), 1e-6);
        r.Total.backward();
        Assert.IsTrue(Floats(x.grad!).All(float.IsFinite));

        // No foreground pixel.
        Tensor bgOnly = tensor(new long[] { 0, 255, 0, 0 }, [1, 2, 2]);
        using SeededCrossEntropyResult r2 = SeededCrossEntropy.Compute(x, bgOnly);
        Assert.AreEqual(0.0, r2.Foreground.ToDouble());
        Assert.AreEqual(nn.functional.cross_entropy(x, bgOnly, ignore_index: 255).ToDouble(), r2.Total.ToDouble(), 1e-6);
    }

    [TestMethod]
    public void WrongShapesOrDtype_Throw()
    {
        using var scope = NewDisposeScope();
        Tensor x = zeros([1, 3, 2, 2]);
        Assert.ThrowsExactly<ArgumentException>(() => SeededCrossEntropy.Compute(x, zeros([1, 2, 2])));
        Assert.ThrowsExactly<ArgumentException>(() => SeededCrossEntropy.Compute(x, zeros([2, 2, 2], ScalarType.Int64)));
        Assert.ThrowsExactly<ArgumentException>(() => SeededCrossEntropy.Compute(zeros([3, 2, 2]), zeros([1, 2, 2], ScalarType.Int64)));
    }
}

[TestClass]
public sealed class ClassificationLossTests
{
    [TestMethod]
    public void MatchesTheSoftMarginFormula()
    {
        double[] x = [0.5, -1.0, 2.0, 0.0, -0.3, 1.2];
        float[] y = [1, 0, 1, 0, 0, 1];
        double expected = 0;
        for (int i = 0; i < 6; i++)
        {
            double logSig = -Math.Log(1 + Math.Exp(-x[i])), logSigNeg = -Math.Log(1 + Math.Exp(x[i]));
            expected -= (y[i] * logSig) + ((1 - y[i]) * logSigNeg);
        }

        expected /= 6; // mean over classes, then over the batch of 2
        using var scope = NewDisposeScope();
        Tensor loss = ClassificationLoss.Compute(tensor(x, [2, 3]), tensor(y, [2, 3]));
        Assert.AreEqual(expected, loss.ToDouble(), 1e-12);
        Assert.ThrowsExactly<ArgumentException>(() => ClassificationLoss.Compute(zeros([2, 3]), zeros([2, 4])));
    }
}
