using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Data;
using Wsss.Evaluation;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Model.Serialization;
using Wsss.Training;

namespace Wsss.Tests.Training;

/// <summary>Training on masks: the two-step variant's second step (and the quality benchmark's supervised ceiling).</summary>
[TestClass]
[DoNotParallelize]
public sealed class SupervisedTrainerTests
{
    private static SyntheticDataset Data => TrainerTests.Data;

    /// <summary>TrainerTests' tiny run at one thread (the resume check is bit-exact there); the warm-up does not apply.</summary>
    private static RrmTrainingOptions Tiny(string? checkpoint = null, int iterations = 6)
    {
        var options = TrainerTests.Tiny(checkpoint, iterations);
        options.Threads = 1;
        return options;
    }

    private static float[] Flatten(SegmentationModel model) => TrainerTests.Flatten(model);

    [TestMethod]
    public void LearnsTheMasks_BeyondBackgroundEverywhere()
    {
        var options = Tiny(iterations: 120);
        options.Threads = 2;
        var reports = new List<TrainingProgress>();
        var (model, done) = SupervisedTrainer.Train(WeakDataset.From(Data), options, new TrainerTests.SyncProgress(reports.Add), null, CancellationToken.None);
        using (model)
        {
            Assert.AreEqual(120, done);
            Assert.AreEqual(120, reports.Count, "one report per iteration at ProgressInterval 1");
            Assert.IsTrue(reports.All(r => double.IsFinite(r.Loss) && r.Loss > 0 && r.SeedCoverage > 0.9), "finite losses; synthetic masks label (almost) every pixel");
            Assert.AreEqual(TimeSpan.Zero, reports[^1].Remaining);
            double first = reports.Take(10).Average(r => r.Loss), last = reports.TakeLast(10).Average(r => r.Loss);
            Assert.IsLessThan(first * 0.7, last, $"cross-entropy {first:F3} -> {last:F3}");

            var matrix = new ConfusionMatrix(Data.ClassNames.Count + 1);
            var background = new ConfusionMatrix(Data.ClassNames.Count + 1);
            foreach (var item in Data)
            {
                matrix.Add(item.Mask!, model.Predict(item.Image).Mask);
                background.Add(item.Mask!, new SegmentationMask(item.Image.Height, item.Image.Width, 0));
            }

            // All-background scores the background IoU alone over the 3 classes.
            Assert.IsGreaterThan(background.MeanIoU + 0.15, matrix.MeanIoU, $"mIoU {matrix.MeanIoU:F3} against all-background {background.MeanIoU:F3}");
        }
    }

    [TestMethod]
    public void ResumedRunEqualsUninterruptedRun_AndCheckpointKindsDoNotMix()
    {
        using var dir = TestData.NewTempDirectory();
        var (straight, _) = SupervisedTrainer.Train(WeakDataset.From(Data), Tiny(), null, null, CancellationToken.None);
        using (straight)
        {
            string checkpoint = dir.File("masks.ckpt");
            using var cts = new CancellationTokenSource();
            var cancelAt4 = new TrainerTests.SyncProgress(p =>
            {
                if (p.Iteration == 4)
                {
                    cts.Cancel();
                }
            });
            Assert.ThrowsExactly<OperationCanceledException>(() => SupervisedTrainer.Train(WeakDataset.From(Data), Tiny(checkpoint), cancelAt4, null, cts.Token));
            Assert.AreEqual("4", SafetensorsFile.ReadHeader(checkpoint).Metadata["iteration"], "cancellation leaves a checkpoint of the completed iterations");

            var reports = new List<TrainingProgress>();
            var (resumed, done) = SupervisedTrainer.Train(WeakDataset.From(Data), Tiny(checkpoint), new TrainerTests.SyncProgress(reports.Add), null, CancellationToken.None);
            using (resumed)
            {
                Assert.AreEqual(6, done);
                Assert.AreEqual(5, reports[0].Iteration, "resume continues after the 4 completed iterations");
                CollectionAssert.AreEqual(Flatten(straight), Flatten(resumed), "at one thread the resumed parameters are bit-identical");
            }

            // Same tensors, other training: resuming it as RRM training must fail by name, and the reverse too.
            var e = Assert.ThrowsExactly<FileFormatException>(() => new RrmTrainer(Tiny(checkpoint)).Train(WeakDataset.From(Data)));
            StringAssert.Contains(e.Message, "training on masks");
            StringAssert.Contains(e.Message, checkpoint);
            string rrm = dir.File("rrm.ckpt");
            using (new RrmTrainer(Tiny(rrm, iterations: 3)).Train(WeakDataset.From(Data)))
            {
            }

            e = Assert.ThrowsExactly<FileFormatException>(() => SupervisedTrainer.Train(WeakDataset.From(Data), Tiny(rrm), null, null, CancellationToken.None));
            StringAssert.Contains(e.Message, "RRM training on image-level labels");
        }
    }

    [TestMethod]
    public void AnImageWithoutMask_IsNamed_AndADivergedLossStopsTraining()
    {
        var images = Data.Select(s => new LabelledImage($"img{s.Index}", s.Image, s.Labels, Data.ClassNames, s.Index == 5 ? null : s.Mask)).ToList();
        var options = Tiny(iterations: 8);
        var e = Assert.ThrowsExactly<ArgumentException>(() => SupervisedTrainer.Train(WeakDataset.From(images, Data.ClassNames), options, null, null, CancellationToken.None));
        StringAssert.Contains(e.Message, "'img5' has no mask");

        options = Tiny(iterations: 30);
        options.BaseLearningRate = 1e12;
        var diverged = Assert.ThrowsExactly<TrainingDivergedException>(() => SupervisedTrainer.Train(WeakDataset.From(Data), options, null, null, CancellationToken.None));
        Assert.AreEqual("cross-entropy", diverged.LossName);
    }

    [TestMethod]
    public void BatchesWithoutLabelledPixels_AreSkippedInsteadOfPoisoningTheWeights()
    {
        var ignored = Data.Select(s => new LabelledImage($"img{s.Index}", s.Image, s.Labels, Data.ClassNames,
            new SegmentationMask(s.Image.Height, s.Image.Width, SegmentationMask.Ignore))).ToList();
        var reports = new List<TrainingProgress>();
        var (model, _) = SupervisedTrainer.Train(WeakDataset.From(ignored, Data.ClassNames), Tiny(iterations: 3), new TrainerTests.SyncProgress(reports.Add), null, CancellationToken.None);
        using (model)
        {
            Assert.IsTrue(reports.All(r => r.Loss == 0 && r.SeedCoverage == 0));
            Assert.IsTrue(Flatten(model).All(float.IsFinite), "no 0/0 mean reached the weights");
        }
    }
}
