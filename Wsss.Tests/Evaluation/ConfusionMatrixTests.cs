using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Evaluation;
using Wsss.Imaging;

namespace Wsss.Tests.Evaluation;

[TestClass]
public sealed class ConfusionMatrixTests
{
    // Ground truth and prediction, 2x4, labels 0 (background), 1, 2; 255 = ignore / no label.
    //   GT    0 0 1 1        Pred  0 1 1 255
    //         2 2 255 0            2 0 1 0
    // Per pixel: (g0,p0) TP0 | (g0,p1) FN0 FP1 | (g1,p1) TP1 | (g1,p255) FN1 | (g2,p2) TP2 |
    //            (g2,p0) FN2 FP0 | (g255) ignored | (g0,p0) TP0.
    // class 0: TP 2, FP 1, FN 1 -> IoU 2/4; class 1: TP 1, FP 1, FN 1 -> 1/3; class 2: TP 1, FP 0, FN 1 -> 1/2.
    // mIoU = (1/2 + 1/3 + 1/2) / 3 = 4/9. Valid pixels 7, correct 4 -> accuracy 4/7.
    // Seeds view: labelled = 7 - 1 (the 255 prediction) = 6, precision 4/6, coverage 6/7.
    private static readonly SegmentationMask Gt = new(2, 4, [0, 0, 1, 1, 2, 2, 255, 0]);
    private static readonly SegmentationMask Pred = new(2, 4, [0, 1, 1, 255, 2, 0, 1, 0]);

    [TestMethod]
    public void HandExample_IoU_MeanIoU_Accuracy()
    {
        var m = new ConfusionMatrix(3);
        m.Add(Gt, Pred);
        Assert.AreEqual(1, m.IgnoredPixels);
        Assert.AreEqual(7, m.ValidPixels);
        Assert.AreEqual(2, m.TruePositives(0));
        Assert.AreEqual(1, m.FalsePositives(0));
        Assert.AreEqual(1, m.FalseNegatives(1));
        Assert.AreEqual(1, m[1, 255]);
        Assert.AreEqual(0.5, m.IoU(0), 1e-12);
        Assert.AreEqual(1.0 / 3, m.IoU(1), 1e-12);
        Assert.AreEqual(0.5, m.IoU(2), 1e-12);
        Assert.AreEqual(4.0 / 9, m.MeanIoU, 1e-12);
        Assert.AreEqual(4.0 / 7, m.PixelAccuracy, 1e-12);
        StringAssert.Contains(m.Format(["bg", "cat", "dog"]), "44.44");
    }

    [TestMethod]
    public void HandExample_SeedQuality()
    {
        var m = new ConfusionMatrix(3);
        m.Add(Gt, Pred);
        SeedQuality q = m.SeedQuality;
        Assert.AreEqual(6, q.LabelledPixels);
        Assert.AreEqual(4, q.CorrectPixels);
        Assert.AreEqual(7, q.ValidPixels);
        Assert.AreEqual(4.0 / 6, q.Precision, 1e-12);
        Assert.AreEqual(6.0 / 7, q.Coverage, 1e-12);
    }

    [TestMethod]
    public void MeanIoU_SkipsClassesThatDoNotOccur_ButCountsPredictedOnlyClasses()
    {
        // A 4-class matrix where class 3 never appears: same mIoU as the 3-class one, IoU(3) NaN.
        var m = new ConfusionMatrix(4);
        m.Add(Gt, Pred);
        Assert.IsFalse(m.Occurs(3));
        Assert.IsTrue(double.IsNaN(m.IoU(3)));
        Assert.AreEqual(4.0 / 9, m.MeanIoU, 1e-12);

        // Now one background pixel is predicted as class 3: class 3 occurs with IoU 0.
        // class 0 loses a TP: TP 1, FP 1, FN 2 -> 1/4; mIoU = (1/4 + 1/3 + 1/2 + 0) / 4 = 13/48.
        var m2 = new ConfusionMatrix(4);
        m2.Add(Gt.Labels, [0, 1, 1, 255, 2, 0, 1, 3]);
        Assert.IsTrue(m2.Occurs(3));
        Assert.AreEqual(0.0, m2.IoU(3));
        Assert.AreEqual(13.0 / 48, m2.MeanIoU, 1e-12);
    }

    [TestMethod]
    public void EmptyMatrix_GivesNaN()
    {
        var m = new ConfusionMatrix(2);
        m.Add([255, 255], [0, 1]);
        Assert.AreEqual(2, m.IgnoredPixels);
        Assert.IsTrue(double.IsNaN(m.MeanIoU));
        Assert.IsTrue(double.IsNaN(m.PixelAccuracy));
        Assert.IsTrue(double.IsNaN(m.SeedQuality.Precision));
    }

    [TestMethod]
    public void InvalidInputs_Throw()
    {
        var m = new ConfusionMatrix(3);
        Assert.ThrowsExactly<ArgumentException>(() => m.Add([0, 3], [0, 0]));
        Assert.ThrowsExactly<ArgumentException>(() => m.Add([0, 1], [0, 7]));
        Assert.ThrowsExactly<ArgumentException>(() => m.Add([0, 1], [0]));
        Assert.ThrowsExactly<ArgumentException>(() => m.Add(new SegmentationMask(2, 3), new SegmentationMask(3, 2)));
        Assert.ThrowsExactly<ArgumentException>(() => m.Merge(new ConfusionMatrix(4)));
    }

    [TestMethod]
    public void ParallelMerge_EqualsSequentialAccumulation()
    {
        const int images = 64, k = 5;
        var rng = new Random(17);
        var gts = new byte[images][];
        var preds = new byte[images][];
        for (int i = 0; i < images; i++)
        {
            gts[i] = new byte[300];
            preds[i] = new byte[300];
            for (int j = 0; j < 300; j++)
            {
                int g = rng.Next(k + 1);
                gts[i][j] = g == k ? (byte)255 : (byte)g;
                int p = rng.Next(k + 1);
                preds[i][j] = p == k ? (byte)255 : (byte)p;
            }
        }

        var sequential = new ConfusionMatrix(k);
        for (int i = 0; i < images; i++)
        {
            sequential.Add(gts[i], preds[i]);
        }

        var total = new ConfusionMatrix(k);
        Parallel.For(
            0,
            images,
            new ParallelOptions { MaxDegreeOfParallelism = 4 },
            () => new ConfusionMatrix(k),
            (i, _, local) =>
            {
                local.Add(gts[i], preds[i]);
                return local;
            },
            total.Merge);

        Assert.AreEqual(sequential.IgnoredPixels, total.IgnoredPixels);
        for (int g = 0; g < k; g++)
        {
            for (int p = 0; p < k; p++)
            {
                Assert.AreEqual(sequential[g, p], total[g, p]);
            }

            Assert.AreEqual(sequential[g, 255], total[g, 255]);
        }

        Assert.AreEqual(sequential.MeanIoU, total.MeanIoU, 1e-12);
        Assert.IsTrue(total.ValidPixels > 0);
    }
}
