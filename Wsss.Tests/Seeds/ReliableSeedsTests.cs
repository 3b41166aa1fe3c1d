using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;
using Wsss.Seeds;

namespace Wsss.Tests.Seeds;

/// <summary>
/// Hand-made cases for the pruning rules. The images consist of flat colour bands (red, green, blue),
/// so the bilateral kernel never mixes bands, and the CAMs are decisive inside each band (a class CAM
/// of at least 0.5 against a "low" background score of at most 0.5^4 = 0.0625, or zero against a
/// background score of 1): the unary margins (log ratios of at least 2) exceed what the pairwise terms
/// at a band border can shift, so both CRFs keep the CAM's argmax with probabilities near 1. What
/// remains to derive is the CAM rules, done in each test.
/// </summary>
[TestClass]
public sealed class ReliableSeedsTests
{
    private const int H = 12;
    private const int W = 30;
    private const int Classes = 4;

    /// <summary>Bands of 10 columns: red (x 0-9), green (10-19), blue (20-29).</summary>
    private static RgbImage BandImage()
    {
        var img = new RgbImage(H, W);
        for (int y = 0; y < H; y++)
        {
            for (int x = 0; x < W; x++)
            {
                img[y, x] = x < 10 ? ((byte)200, (byte)30, (byte)30) : x < 20 ? ((byte)30, (byte)200, (byte)30) : ((byte)30, (byte)30, (byte)200);
            }
        }

        return img;
    }

    /// <summary>CAM of class 1 over the red band and class 3 over the blue band, rising 0.5, 0.55, ... 0.95 by column.</summary>
    private static float[] BandCams()
    {
        var cams = new float[Classes * H * W];
        for (int y = 0; y < H; y++)
        {
            for (int x = 0; x < 10; x++)
            {
                cams[(1 * H * W) + (y * W) + x] = 0.5f + (0.05f * x);
                cams[(3 * H * W) + (y * W) + x + 20] = 0.5f + (0.05f * x);
            }
        }

        return cams;
    }

    private static readonly byte[] BandLabels = [0, 1, 0, 1];

    private static void AssertColumns(byte[] seeds, Func<int, byte> expectedForColumn, string because)
    {
        for (int y = 0; y < H; y++)
        {
            for (int x = 0; x < W; x++)
            {
                Assert.AreEqual(expectedForColumn(x), seeds[(y * W) + x], $"pixel ({y}, {x}): {because}");
            }
        }
    }

    /// <summary>
    /// Class 1 (label 2) in the red band: its CAM region is the band (bg = (1 - cam)^32 is below 1e-9
    /// there), 120 values above 0.1, 12 per column at 0.5 ... 0.95. Sorted, index floor(0.6 * 120) = 72
    /// is the first value of column 6 (columns 0-5 fill indices 0-71), so the threshold is 0.8 and only
    /// columns 7-9 (strictly above) are sure; columns 0-6 are 255. The blue band (class 3, label 4) is
    /// the same with columns 27-29. The green band: CAM label background with bg = 1 > 0.8, the high
    /// CRF says background with confidence near 1: all 0. Column 15 has a faint class-1 CAM of 0.05:
    /// still background everywhere, but bg = 0.95^32 = 0.19 is not above 0.8, so it is unsure (255).
    /// </summary>
    [TestMethod]
    public void BandImage_PercentileAndBackgroundRules()
    {
        float[] cams = BandCams();
        for (int y = 0; y < H; y++)
        {
            cams[(1 * H * W) + (y * W) + 15] = 0.05f;
        }

        using var seeds = new ReliableSeeds(threads: 1);
        byte[] result = seeds.Compute(BandImage(), BandLabels, cams);
        AssertColumns(
            result,
            x => x switch
            {
                < 7 => 255,
                < 10 => 2,
                15 => 255,
                < 20 => 0,
                < 27 => 255,
                _ => 4,
            },
            "percentile rule per class, background CAM rule");
    }

    /// <summary>
    /// CAMs of classes absent from the label are not read (class 0 has CAM 1 everywhere here), and a
    /// class present in the label with an all-zero CAM never wins a pixel: the result equals the
    /// two-class case.
    /// </summary>
    [TestMethod]
    public void AbsentClassCams_AreIgnored_AndEmptyPresentClassChangesNothing()
    {
        float[] cams = BandCams();
        using var seeds = new ReliableSeeds(threads: 1);
        byte[] baseline = seeds.Compute(BandImage(), BandLabels, cams);

        for (int i = 0; i < H * W; i++)
        {
            cams[i] = 1f;
        }

        CollectionAssert.AreEqual(baseline, seeds.Compute(BandImage(), BandLabels, cams), "absent class 0 with CAM 1");
        byte[] withEmptyClass2 = seeds.Compute(BandImage(), new byte[] { 0, 1, 1, 1 }, cams);
        CollectionAssert.AreEqual(baseline, withEmptyClass2, "present class 2 with an all-zero CAM");
    }

    /// <summary>
    /// With the CAM floor raised to 0.96, class 1 (CAM at most 0.95) has no value above the floor in its
    /// region: the reference crashes here; the result is an empty sure region, so the whole red band is
    /// 255. Class 3's CAM (also 0.5 to 0.95) is under the floor too, so the blue band is 255 as well,
    /// while the green band stays background (its rule does not involve the floor).
    /// </summary>
    [TestMethod]
    public void ClassWithoutCamAboveFloor_GetsEmptySureRegion()
    {
        using var seeds = new ReliableSeeds(new ReliableSeedOptions { CamFloor = 0.96f }, threads: 1);
        byte[] result = seeds.Compute(BandImage(), BandLabels, BandCams());
        AssertColumns(result, x => x is >= 10 and < 20 ? (byte)0 : (byte)255, "empty sure regions of both classes");
    }

    /// <summary>
    /// The CRF confidence rule: confidences are at most 1, so a threshold above 1 marks every pixel
    /// unsure; a threshold of 0 removes nothing, leaving the CAM rules' result (the same as the default
    /// here, since all CRF marginals are near 1).
    /// </summary>
    [TestMethod]
    public void CrfConfidenceThreshold_Applies()
    {
        using var strict = new ReliableSeeds(new ReliableSeedOptions { CrfConfidence = 1.01f }, threads: 1);
        Assert.IsTrue(strict.Compute(BandImage(), BandLabels, BandCams()).All(v => v == ReliableSeeds.Ignore));

        using var lax = new ReliableSeeds(new ReliableSeedOptions { CrfConfidence = 0f }, threads: 1);
        using var standard = new ReliableSeeds(threads: 1);
        CollectionAssert.AreEqual(
            standard.Compute(BandImage(), BandLabels, BandCams()),
            lax.Compute(BandImage(), BandLabels, BandCams()));
    }

    /// <summary>No class present: a single-label CRF, everything background with bg = 1 > 0.8.</summary>
    [TestMethod]
    public void NoPresentClass_IsAllBackground()
    {
        using var seeds = new ReliableSeeds(threads: 1);
        byte[] result = seeds.Compute(BandImage(), new byte[Classes], new float[Classes * H * W]);
        Assert.IsTrue(result.All(v => v == 0));
    }

    [TestMethod]
    public void Batch_EqualsSingleImages_AndIsRepeatable()
    {
        var images = new List<RgbImage> { BandImage(), BandImage(), BandImage() };
        images[2] = PermutohedralLatticeTests.MakeImage(H, W, seed: 1);
        float[] mirrored = new float[Classes * H * W];
        float[] band = BandCams();
        for (int c = 0; c < Classes; c++)
        {
            for (int y = 0; y < H; y++)
            {
                for (int x = 0; x < W; x++)
                {
                    mirrored[(c * H * W) + (y * W) + x] = band[(c * H * W) + (y * W) + (W - 1 - x)];
                }
            }
        }

        var labels = new List<byte[]> { BandLabels, new byte[] { 1, 1, 0, 1 }, BandLabels };
        var cams = new List<float[]> { band, mirrored, band };

        using var single = new ReliableSeeds(threads: 1);
        var expected = Enumerable.Range(0, 3).Select(i => single.Compute(images[i], labels[i], cams[i])).ToArray();
        using var batch = new ReliableSeeds(threads: 2);
        for (int round = 0; round < 2; round++)
        {
            byte[][] actual = batch.ComputeBatch(images, labels, cams);
            for (int i = 0; i < 3; i++)
            {
                CollectionAssert.AreEqual(expected[i], actual[i], $"image {i}, round {round}");
            }
        }

        batch.Threads = 4;
        CollectionAssert.AreEqual(expected[1], batch.ComputeBatch(images, labels, cams)[1], "more threads than images");
    }

    [TestMethod]
    public void InvalidInputs_Throw()
    {
        using var seeds = new ReliableSeeds(threads: 1);
        Assert.ThrowsExactly<ArgumentException>(() => seeds.Compute(BandImage(), BandLabels, new float[10]));
        seeds.Options = new ReliableSeedOptions { CamPercentile = 1f };
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => seeds.Compute(BandImage(), BandLabels, BandCams()));
    }
    [TestMethod]
    public void CamExponent_EqualsPoweringTheCamsFirst_AndLeavesTheCallersCamsAlone()
    {
        var image = BandImage();
        var cams = BandCams();
        // Low values in the green band, which the exponent lifts above the background rule's threshold.
        for (int y = 0; y < H; y++)
        {
            for (int x = 10; x < 20; x++)
            {
                cams[(1 * H * W) + (y * W) + x] = 0.001f * (x - 9);
            }
        }

        var original = (float[])cams.Clone();
        var powered = cams.Select(v => v > 0 ? MathF.Pow(v, 0.3f) : v).ToArray();
        using var withExponent = new ReliableSeeds(new ReliableSeedOptions { CamExponent = 0.3f }, 1);
        using var plain = new ReliableSeeds(new ReliableSeedOptions(), 1);
        byte[] a = withExponent.Compute(image, BandLabels, cams);
        CollectionAssert.AreEqual(original, cams, "the caller's CAMs are not modified");
        CollectionAssert.AreEqual(plain.Compute(image, BandLabels, powered), a);
        CollectionAssert.AreNotEqual(plain.Compute(image, BandLabels, cams), a, "the exponent changes these seeds");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ReliableSeeds(new ReliableSeedOptions { CamExponent = 0 }).Compute(image, BandLabels, cams));
    }
}
