// NATIVE COMPARISON: delete this file together with the C++ (native/src/lattice.*, densecrf.*, seeds*.cpp)
// and Wsss/Seeds/Native/. It checks that the managed seeds code computes what the C++ computes.
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;
using Wsss.Seeds;
using Wsss.Seeds.Native;

namespace Wsss.Tests.Seeds;

/// <summary>
/// The managed lattice, bilateral batch filter, dense CRF and reliable seeds against the C++ ones on
/// random inputs. The managed code follows the C++'s arithmetic (same splat partition, summation
/// orders, exp polynomial, no fused multiply-add), so the results are in fact bitwise equal; the
/// assertions are the issue's tolerances (lattice values 1e-6 relative, CRF marginals 1e-5, seeds
/// identical) plus exact equality of the lattice structure (vertex count), with the observed maximum
/// difference written to the log.
/// </summary>
[TestClass]
[TestCategory("NativeComparison")]
public sealed class NativeComparisonTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>
    /// Point counts that are not multiples of 8 exercise both the vectorised elevation (blocks of 8
    /// points) and its scalar tail; dimensions 1..6 cover every key layout (one or two key words).
    /// </summary>
    [TestMethod]
    [DataRow(1, 1003, 1, 1)]
    [DataRow(2, 2001, 3, 1)]
    [DataRow(3, 517, 4, 2)]
    [DataRow(4, 999, 5, 2)]
    [DataRow(5, 1501, 21, 2)]
    [DataRow(5, 777, 8, 3)]
    [DataRow(6, 1203, 2, 1)]
    public void Lattice_MatchesNative_OnRandomFeatures(int d, int n, int channels, int threads)
    {
        var rng = new Random((d * 1000) + n);
        // Features of a few lattice units: many points share simplices, some are isolated.
        float[] features = Enumerable.Range(0, n * d).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();
        float[] values = Enumerable.Range(0, n * channels).Select(_ => (float)rng.NextDouble()).ToArray();

        using var managed = new PermutohedralLattice { Threads = threads };
        using var native = new NativePermutohedralLattice { Threads = threads };
        managed.Build(features, n, d);
        native.Build(features, n, d);
        Assert.AreEqual(native.Vertices, managed.Vertices, "vertex count (the same simplices)");
        Assert.AreEqual(native.Points, managed.Points);

        float[] expected = native.Filter(values, channels);
        float[] actual = managed.Filter(values, channels);
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - actual[i]));
            maxAbs = Math.Max(maxAbs, Math.Abs(expected[i]));
        }

        TestContext.WriteLine($"d {d}, n {n}, {channels} ch, {threads} thr: {managed.Vertices} vertices, max |managed - C++| {maxDiff:G3} of max {maxAbs:G4}");
        Assert.IsLessThanOrEqualTo(1e-6 * maxAbs, maxDiff);
    }

    [TestMethod]
    public void BilateralBatch_MatchesNative()
    {
        const int count = 3, h = 37, w = 41, channels = 7;
        byte[] images = Enumerable.Range(0, count).SelectMany(i => PermutohedralLatticeTests.MakeImage(h, w, seed: 30 + i).Pixels).ToArray();
        var rng = new Random(31);
        float[] input = Enumerable.Range(0, count * channels * h * w).Select(_ => (float)rng.NextDouble()).ToArray();
        foreach (int threads in new[] { 1, 2, 4 })
        {
            var expected = new float[input.Length];
            var actual = new float[input.Length];
            using (var native = new NativeBilateralFilterBatch(threads))
            {
                native.Filter(images, count, h, w, input, channels, 50f, 15f, expected);
            }

            using (var managed = new BilateralFilterBatch(threads))
            {
                managed.Filter(images, count, h, w, input, channels, 50f, 15f, actual);
            }

            double maxDiff = expected.Zip(actual, (a, b) => (double)Math.Abs(a - b)).Max();
            double maxAbs = expected.Max(Math.Abs);
            TestContext.WriteLine($"{threads} threads: max |managed - C++| {maxDiff:G3} of max {maxAbs:G4}");
            Assert.IsLessThanOrEqualTo(1e-6 * maxAbs, maxDiff, $"{threads} threads");
        }
    }

    /// <summary>Label counts 1, 2, 3, 5 and 21 cover rows of 4 (the register path), 8 and 24 floats.</summary>
    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(2, 2)]
    [DataRow(3, 1)]
    [DataRow(3, 2)]
    [DataRow(5, 2)]
    [DataRow(21, 1)]
    [DataRow(21, 2)]
    public void DenseCrf_MatchesNative_OnRandomInputs(int labels, int threads)
    {
        const int h = 53, w = 47;
        RgbImage image = PermutohedralLatticeTests.MakeImage(h, w, seed: labels);
        var rng = new Random(100 + labels);
        // Some probabilities below the 1e-5 clip and some above 1, as real inputs may have.
        float[] probs = Enumerable.Range(0, labels * h * w)
            .Select(_ => rng.NextDouble() < 0.05 ? 1e-7f : (float)(rng.NextDouble() * 1.1)).ToArray();
        foreach (DenseCrfOptions options in new[] { new DenseCrfOptions(), DenseCrfOptions.Inference, new DenseCrfOptions { GaussianCompat = 0 } })
        {
            using var native = new NativeDenseCrf(options) { Threads = threads };
            using var managed = new DenseCrf(options) { Threads = threads };
            float[] expected = native.Infer(image, probs, labels);
            float[] actual = managed.Infer(image, probs, labels);
            double maxDiff = expected.Zip(actual, (a, b) => (double)Math.Abs(a - b)).Max();
            TestContext.WriteLine($"{labels} labels, {threads} thr, {options}: max |managed - C++| {maxDiff:G3}");
            Assert.IsLessThanOrEqualTo(1e-5, maxDiff, options.ToString());
        }
    }

    /// <summary>
    /// Random images with blob CAMs for 2 or 3 present classes (one present class with an all-zero CAM,
    /// one absent class with a CAM that must be ignored), batches run in parallel or not: the seed maps
    /// are identical byte for byte.
    /// </summary>
    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    public void ReliableSeeds_MatchNative_OnRandomInputs(int threads)
    {
        const int count = 4, h = 45, w = 61, classes = 6, n = h * w;
        byte[] images = Enumerable.Range(0, count).SelectMany(i => PermutohedralLatticeTests.MakeImage(h, w, seed: 50 + i).Pixels).ToArray();
        var labels = new byte[count * classes];
        var cams = new float[count * classes * n];
        var rng = new Random(51);
        for (int i = 0; i < count; i++)
        {
            int present = 2 + (i % 2);
            for (int k = 0; k < present; k++)
            {
                int c = (i + (2 * k)) % classes;
                labels[(i * classes) + c] = 1;
                if (k == 2)
                {
                    continue; // present, all-zero CAM
                }

                double cy = rng.NextDouble() * h, cx = rng.NextDouble() * w, r = 8 + (rng.NextDouble() * 12);
                for (int p = 0; p < n; p++)
                {
                    double dy = (p / w) - cy, dx = (p % w) - cx;
                    cams[(((i * classes) + c) * n) + p] = (float)Math.Clamp(Math.Exp(-((dy * dy) + (dx * dx)) / (r * r)) + (0.05 * rng.NextDouble()), 0, 1);
                }
            }

            int absent = (i + 1) % classes;
            if (labels[(i * classes) + absent] == 0)
            {
                cams.AsSpan(((i * classes) + absent) * n, n).Fill(0.9f);
            }
        }

        var expected = new byte[count * n];
        var actual = new byte[count * n];
        foreach (ReliableSeedOptions options in new[] { new ReliableSeedOptions(), new ReliableSeedOptions { CamPercentile = 0.3f, CrfConfidence = 0.6f } })
        {
            using (var native = new NativeReliableSeeds(options, threads))
            {
                native.ComputeBatch(images, count, h, w, labels, cams, classes, expected);
            }

            using (var managed = new ReliableSeeds(options, threads))
            {
                managed.ComputeBatch(images, count, h, w, labels, cams, classes, actual);
            }

            int differ = expected.Zip(actual).Count(x => x.First != x.Second);
            int reliable = actual.Count(v => v != ReliableSeeds.Ignore);
            TestContext.WriteLine($"{threads} thr, {options}: {differ} of {actual.Length} seeds differ; {reliable} reliable, labels {string.Join(",", actual.Distinct().Order())}");
            Assert.AreEqual(0, differ, options.ToString());
            Assert.IsGreaterThan(0, reliable, "the case must have reliable pixels to compare");
            Assert.IsGreaterThan(2, actual.Distinct().Count(), "background, a class and 255 all occur");
        }
    }

    /// <summary>
    /// NaN CAM values give the same seeds as in the C++ (std::max keeps its first argument where
    /// MathF.Max would propagate NaN). NaN features are not compared: the C++ lattice writes outside its
    /// arrays for them (see PermutohedralLatticeTests.NonFiniteOrHugeFeatures_AreRejected).
    /// </summary>
    [TestMethod]
    public void NaNCams_GiveTheSameSeedsAsNative()
    {
        const int h = 20, w = 24, classes = 3, n = h * w;
        RgbImage image = PermutohedralLatticeTests.MakeImage(h, w, seed: 60);
        var cams = new float[classes * n];
        var rng = new Random(61);
        for (int i = 0; i < cams.Length; i++)
        {
            cams[i] = rng.NextDouble() < 0.02 ? float.NaN : (float)rng.NextDouble();
        }

        byte[] labels = [1, 0, 1];
        var expected = new byte[n];
        var actual = new byte[n];
        using (var native = new NativeReliableSeeds(threads: 1))
        {
            native.ComputeBatch(image.Pixels, 1, h, w, labels, cams, classes, expected);
        }

        using (var managed = new ReliableSeeds(threads: 1))
        {
            managed.ComputeBatch(image.Pixels, 1, h, w, labels, cams, classes, actual);
        }

        CollectionAssert.AreEqual(expected, actual);
        Assert.IsTrue(actual.Any(v => v != ReliableSeeds.Ignore), "some pixels are reliable");
    }
}
