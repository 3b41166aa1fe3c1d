using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Seeds;

namespace Wsss.Tests.Inference;

[TestClass]
public sealed class SegmentationModelTests
{
    private static SegmentationModel model = null!;
    private static string modelPath = null!;

    [ClassInitialize]
    public static void Init(TestContext context)
    {
        using var trained = TinyModel.Train();
        modelPath = Path.Combine(Path.GetTempPath(), $"wsss-inference-{Guid.NewGuid():N}.safetensors");
        trained.Save(modelPath);
        model = SegmentationModel.Load(modelPath);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        model?.Dispose();
        File.Delete(modelPath);
    }

    [TestMethod]
    public void ConcurrentPredictionsEqualSequentialOnes()
    {
        var images = Enumerable.Range(0, 16).Select(i => TinyModel.Data[i].Image).ToArray();
        var options = new PredictionOptions { Scales = [0.75, 1.0], Flip = true, UseCrf = true, IncludeProbabilities = true };
        var sequentialResults = images.Select(im => model.Predict(im, options)).ToArray();
        var sequential = sequentialResults.Select(r => r.Mask.Labels).ToArray();
        // A barely trained model may label every pixel background, so image dependence is checked on the
        // probabilities, which the comparison below also covers.
        Assert.IsTrue(sequentialResults.Select(r => Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(r.Probabilities!.AsSpan()))).Distinct().Count() > 1,
            "the predictions should depend on the image");

        var concurrent = new byte[8][][];
        var concurrentProbabilities = new float[8][][];
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            try
            {
                // Each thread predicts every image, in its own order, so predictions overlap in many combinations.
                concurrent[t] = new byte[images.Length][];
                concurrentProbabilities[t] = new float[images.Length][];
                for (int k = 0; k < images.Length; k++)
                {
                    int i = (k + (t * 3)) % images.Length;
                    var result = model.Predict(images[i], options);
                    concurrent[t][i] = result.Mask.Labels;
                    concurrentProbabilities[t][i] = result.Probabilities!;
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        Assert.IsEmpty(failures, string.Join("; ", failures.Select(e => e.Message)));
        for (int t = 0; t < 8; t++)
        {
            for (int i = 0; i < images.Length; i++)
            {
                CollectionAssert.AreEqual(sequential[i], concurrent[t][i], $"thread {t}, image {i}");
                float[] expected = sequentialResults[i].Probabilities!, actual = concurrentProbabilities[t][i];
                double worst = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
                Assert.IsTrue(worst < 1e-5, $"thread {t}, image {i}: probabilities differ by {worst}");
            }
        }
    }

    [TestMethod]
    public void ConcurrentCamsAndSeedsEqualSequentialOnes()
    {
        var samples = Enumerable.Range(0, 8).Select(i => TinyModel.Data[i]).ToArray();
        var cams = samples.Select(s => model.ClassActivationMaps(s.Image, s.Labels)).ToArray();
        var seeds = samples.Select(s => model.ReliableSeeds(s.Image, s.Labels, threads: 1).Labels).ToArray();
        var results = new (float[] Cams, byte[] Seeds)[samples.Length];
        Parallel.For(0, samples.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            results[i] = (model.ClassActivationMaps(samples[i].Image, samples[i].Labels), model.ReliableSeeds(samples[i].Image, samples[i].Labels, threads: 1).Labels));
        for (int i = 0; i < samples.Length; i++)
        {
            CollectionAssert.AreEqual(cams[i], results[i].Cams, $"CAMs of image {i}");
            CollectionAssert.AreEqual(seeds[i], results[i].Seeds, $"seeds of image {i}");
        }
    }

    [TestMethod]
    public void CamsAreNormalisedAndZeroForAbsentClasses()
    {
        int classes = model.ClassNames.Count;
        foreach (var sample in TinyModel.Data.Take(6))
        {
            float[] cams = model.ClassActivationMaps(sample.Image, sample.Labels);
            int plane = sample.Image.Height * sample.Image.Width;
            Assert.HasCount(classes * plane, cams);
            for (int c = 0; c < classes; c++)
            {
                var map = cams.AsSpan(c * plane, plane).ToArray();
                Assert.IsTrue(map.All(v => v >= 0f && v <= 1f), $"class {c} values in [0, 1]");
                if (!sample.Labels.Contains(c))
                {
                    Assert.IsTrue(map.All(v => v == 0f), $"absent class {c} must be zero");
                }
                else if (map.Max() > 0)
                {
                    Assert.AreEqual(1f, map.Max(), 1e-3f, $"present class {c} peaks at 1");
                }
            }
        }
    }

    [TestMethod]
    public void SeedsAndPseudoMasksUseOnlyLabelledClasses()
    {
        bool sawIgnore = false, sawForeground = false;
        foreach (var sample in TinyModel.Data.Take(8))
        {
            var allowed = sample.Labels.Select(c => (byte)(c + 1)).Append((byte)0).ToHashSet();
            var seeds = model.ReliableSeeds(sample.Image, sample.Labels, new ReliableSeedOptions());
            Assert.AreEqual(sample.Image.Height, seeds.Height);
            foreach (byte v in seeds.Labels)
            {
                Assert.IsTrue(v == SegmentationMask.Ignore || allowed.Contains(v), $"seed value {v} for labels [{string.Join(",", sample.Labels)}]");
                sawIgnore |= v == SegmentationMask.Ignore;
            }

            var pseudo = model.PseudoMask(sample.Image, sample.Labels, new PredictionOptions { UseCrf = true, IncludeProbabilities = true });
            foreach (byte v in pseudo.Mask.Labels)
            {
                Assert.IsTrue(allowed.Contains(v), $"pseudo-mask value {v} for labels [{string.Join(",", sample.Labels)}]");
                sawForeground |= v != 0;
            }

            int plane = sample.Image.Height * sample.Image.Width;
            for (int c = 1; c <= model.ClassNames.Count; c++)
            {
                if (!allowed.Contains((byte)c))
                {
                    Assert.IsTrue(pseudo.Probabilities!.AsSpan(c * plane, plane).ToArray().All(p => p == 0f), $"absent class {c} has zero probability");
                }
            }
        }

        Assert.IsTrue(sawIgnore, "some seed pixels should be unreliable");
        Assert.IsTrue(sawForeground, "some pseudo-mask pixels should be foreground");
    }

    [TestMethod]
    public void PseudoMaskWithEveryLabelAndNoCrfIsThePrediction()
    {
        int[] all = Enumerable.Range(0, model.ClassNames.Count).ToArray();
        foreach (var sample in TinyModel.Data.Take(4))
        {
            var predicted = model.Predict(sample.Image).Mask.Labels;
            var pseudo = model.PseudoMask(sample.Image, all, new PredictionOptions()).Mask.Labels;
            CollectionAssert.AreEqual(predicted, pseudo);
        }
    }

    [TestMethod]
    public void CamPseudoMaskWithoutCrfIsTheCamBaselineAtItsThreshold()
    {
        const double t = 0.2;
        foreach (var sample in TinyModel.Data.Take(4))
        {
            int plane = sample.Image.Height * sample.Image.Width;
            float[] cams = model.ClassActivationMaps(sample.Image, sample.Labels, []);
            var pseudo = model.PseudoMask(sample.Image, sample.Labels, new PredictionOptions { CamWeight = 1, CamBackgroundThreshold = t }).Mask.Labels;
            for (int i = 0; i < plane; i++)
            {
                // argmax over [t, CAMs]; ties go to the lower label, as in the pseudo mask's argmax.
                float best = (float)t;
                byte expected = 0;
                for (int c = 0; c < model.ClassNames.Count; c++)
                {
                    if (cams[(c * plane) + i] > best)
                    {
                        best = cams[(c * plane) + i];
                        expected = (byte)(c + 1);
                    }
                }

                Assert.AreEqual(expected, pseudo[i], $"pixel {i}");
            }
        }
    }

    [TestMethod]
    public void MixedPseudoMasksKeepToTheLabels()
    {
        foreach (var sample in TinyModel.Data.Take(4))
        {
            var allowed = sample.Labels.Select(c => (byte)(c + 1)).Append((byte)0).ToHashSet();
            foreach (var options in new[]
                     {
                         new PredictionOptions { UseCrf = true, CamWeight = 0.5, CamScales = [0.5], IncludeProbabilities = true },
                         new PredictionOptions { UseCrf = true, CamWeight = 1, CamBackgroundPower = 4, IncludeProbabilities = true },
                     })
            {
                var pseudo = model.PseudoMask(sample.Image, sample.Labels, options);
                Assert.IsTrue(pseudo.Mask.Labels.All(allowed.Contains), "only labelled classes and background");
                int plane = sample.Image.Height * sample.Image.Width;
                for (int i = 0; i < plane; i += 7)
                {
                    float sum = 0;
                    for (int c = 0; c <= model.ClassNames.Count; c++)
                    {
                        sum += pseudo.Probabilities![(c * plane) + i];
                    }

                    Assert.AreEqual(1f, sum, 1e-3f, $"pixel {i} probabilities sum to 1");
                }
            }
        }
    }

    [TestMethod]
    public void CamProbabilitiesFollowTheBackgroundRule()
    {
        // Two classes, one present, two pixels: CAM 0.6 and 0.1.
        bool[] keep = [true, true, false];
        float[] cams = [0.6f, 0.1f, 0.9f, 0.9f];
        float[] threshold = SegmentationModel.CamProbabilities(cams, keep, 2, 0.2, 0);
        float[] expected = [0.25f, 2f / 3f, 0.75f, 1f / 3f, 0f, 0f];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], threshold[i], 1e-5f, $"value {i}: background 0.2 against CAM 0.6 and 0.1; the absent class is 0");
        }

        float[] power = SegmentationModel.CamProbabilities(cams, keep, 2, 0.2, 2);
        Assert.AreEqual(0.16f / 0.76f, power[0], 1e-5f, "(1 - 0.6)^2 against 0.6");
        Assert.AreEqual(0.81f / 0.91f, power[1], 1e-5f, "(1 - 0.1)^2 against 0.1");
        Assert.ThrowsExactly<ArgumentException>(() => model.PseudoMask(TinyModel.Data[0].Image, TinyModel.Data[0].Labels, new PredictionOptions { CamWeight = 1.5 }));
    }

    [TestMethod]
    public void UnknownClassIndexIsRejected()
    {
        var image = TinyModel.Data[0].Image;
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ClassActivationMaps(image, [model.ClassNames.Count]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.PseudoMask(image, [-1]));
    }
}
