using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Training;

namespace Wsss.Tests.Training;

[TestClass]
[DoNotParallelize]
public sealed class TrainerTests
{
    internal static readonly SyntheticDataset Data = new(new SyntheticDatasetOptions { ImageSize = 40, ClassCount = 2, Seed = 3, MinVisiblePixels = 12 }, 16);

    internal static RrmTrainingOptions Tiny(string? checkpoint = null, int iterations = 6) => new()
    {
        Backbone = BackboneKind.SmallCnn,
        Iterations = iterations,
        BatchSize = 2,
        CropSize = 40,
        BaseLearningRate = 0.01,
        Momentum = 0.9,
        ClassificationWarmupFraction = 0.34,
        Threads = 2,
        Seed = 7,
        CheckpointPath = checkpoint,
        CheckpointInterval = 3,
    };

    internal sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }

    internal static float[] Flatten(SegmentationModel model) =>
        SegmentationModel.ExportTensors(model.Network).Where(t => t.DType == Wsss.Model.Serialization.TensorDType.F32)
            .SelectMany(t => t.AsFloatArray()).ToArray();

    [TestMethod]
    public void ReportsEveryLossAndFiniteProgress()
    {
        var reports = new List<TrainingProgress>();
        using var model = new RrmTrainer(Tiny()).Train(WeakDataset.From(Data), new SyncProgress(reports.Add));
        Assert.AreEqual(6, reports.Count);
        CollectionAssert.AreEqual(Enumerable.Range(1, 6).ToArray(), reports.Select(r => r.Iteration).ToArray());
        // warm-up: the first two iterations (floor(0.34 * 6)) train the classifier alone
        Assert.AreEqual(0, reports[0].SeedLoss);
        Assert.IsTrue(reports.Skip(2).All(r => r.SeedCoverage > 0), "seeds label some pixels after the warm-up");
        Assert.IsTrue(reports.All(r => double.IsFinite(r.Loss) && r.LearningRate > 0 && r.ImagesPerSecond > 0));
        Assert.IsTrue(reports[5].LearningRate < reports[0].LearningRate, "poly decay lowers the learning rate");
        Assert.AreEqual(TimeSpan.Zero, reports[5].Remaining);
        var result = model.Predict(Data[0].Image);
        Assert.AreEqual(40, result.Mask.Height);
        Assert.IsTrue(result.Mask.Labels.All(v => v <= 2));
    }

    private sealed class RecordingDataset(IWeakDataset inner) : IWeakDataset
    {
        public System.Collections.Concurrent.ConcurrentQueue<int> Loads { get; } = new();

        public IReadOnlyList<string> ClassNames => inner.ClassNames;

        public int Count => inner.Count;

        public LabelledImage Load(int index)
        {
            Loads.Enqueue(index);
            return inner.Load(index);
        }
    }

    [TestMethod]
    public void ClassBalancedSeedLossTrainsWithFiniteLosses()
    {
        var reports = new List<TrainingProgress>();
        var options = Tiny();
        options.SeedClassBalance = true;
        using var model = new RrmTrainer(options).Train(WeakDataset.From(Data), new SyncProgress(reports.Add));
        Assert.IsTrue(reports.Skip(2).All(r => double.IsFinite(r.SeedLoss) && r.SeedLoss > 0), "the balanced seed loss is finite and positive");
        Assert.AreEqual(6, reports.Count);
    }

    [TestMethod]
    public void EveryIterationGetsItsOwnBatchWhenThePrefetchStartsLate()
    {
        // The next batch is prepared on the thread pool while the current step runs. Here the pool is busy when
        // the prefetch for iteration 4 is queued, so it starts only after the training thread has moved on: it
        // must still prepare iteration 4's images (it once read the loop counter late and prepared iteration 5's,
        // so a batch was trained twice and one never, and resuming did not reproduce the run).
        var data = new RecordingDataset(WeakDataset.From(Data));
        var options = Tiny();
        options.Threads = 1;
        using var release = new ManualResetEventSlim(false);
        var blockers = new List<Task>();
        var progress = new SyncProgress(p =>
        {
            if (p.Iteration == 2)
            {
                for (int i = 0; i < Environment.ProcessorCount * 4; i++)
                {
                    blockers.Add(Task.Run(() => release.Wait(TimeSpan.FromSeconds(1))));
                }
            }

            if (p.Iteration == 3)
            {
                release.Set();
            }
        });
        using var model = new RrmTrainer(options).Train(data, progress);
        Task.WaitAll(blockers);
        int[] loads = data.Loads.ToArray();
        // 6 iterations x 2 images = the first 12 positions of epoch 0: 12 different images, each loaded once.
        Assert.AreEqual(12, loads.Length, string.Join(",", loads));
        Assert.AreEqual(12, loads.Distinct().Count(), $"some batch was prepared twice: {string.Join(",", loads)}");
    }

    [TestMethod]
    public void ZeroBackboneFactorKeepsTheBackboneAndTrainsTheHeads()
    {
        static Dictionary<string, float[]> Tensors(SegmentationModel model) =>
            SegmentationModel.ExportTensors(model.Network).Where(t => t.DType == Wsss.Model.Serialization.TensorDType.F32)
                .ToDictionary(t => t.Name, t => t.AsFloatArray());

        RrmTrainingOptions Fixed(int iterations)
        {
            var o = Tiny(iterations: iterations);
            o.BackboneLearningRateFactor = 0;
            o.FrozenBatchNorm = true;
            return o;
        }

        using var short_ = new RrmTrainer(Fixed(2)).Train(WeakDataset.From(Data));
        using var longer = new RrmTrainer(Fixed(5)).Train(WeakDataset.From(Data));
        var a = Tensors(short_);
        var b = Tensors(longer);
        Assert.IsTrue(a.Keys.Any(k => k.StartsWith("backbone.", StringComparison.Ordinal)));
        foreach (var (name, values) in a)
        {
            bool same = values.SequenceEqual(b[name]);
            Assert.AreEqual(name.StartsWith("backbone.", StringComparison.Ordinal), same, name);
        }
    }

    [TestMethod]
    public void ResumedRunEqualsUninterruptedRun()
    {
        // One thread: with several, float sums may be ordered differently between runs, and the discrete
        // seed decisions can amplify such rounding differences; the claim here is about the checkpoint.
        static RrmTrainingOptions Serial(string? checkpoint = null)
        {
            var o = Tiny(checkpoint);
            o.Threads = 1;
            return o;
        }

        using var dir = TestData.NewTempDirectory();
        using var straight = new RrmTrainer(Serial()).Train(WeakDataset.From(Data));

        string checkpoint = dir.File("run.ckpt");
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p =>
        {
            if (p.Iteration == 4)
            {
                cts.Cancel();
            }
        });
        Assert.ThrowsExactly<OperationCanceledException>(() => new RrmTrainer(Serial(checkpoint)).Train(WeakDataset.From(Data), progress, cts.Token));
        Assert.IsTrue(File.Exists(checkpoint), "cancellation leaves a checkpoint");

        var resumedReports = new List<TrainingProgress>();
        using var resumed = new RrmTrainer(Serial(checkpoint)).Train(WeakDataset.From(Data), new SyncProgress(resumedReports.Add));
        Assert.AreEqual(5, resumedReports[0].Iteration, "resume continues after the 4 completed iterations");
        float[] a = Flatten(straight), b = Flatten(resumed);
        Assert.AreEqual(a.Length, b.Length);
        double maxDiff = a.Zip(b).Max(p => Math.Abs(p.First - p.Second));
        CollectionAssert.AreEqual(a, b, $"resumed parameters differ from the uninterrupted run (by up to {maxDiff}): at one thread they are bit-identical");
    }

    [TestMethod]
    public void DivergenceStopsWithClearErrorAndKeepsLastCheckpoint()
    {
        using var dir = TestData.NewTempDirectory();
        string checkpoint = dir.File("run.ckpt");
        var options = Tiny(checkpoint, iterations: 30);
        options.CheckpointInterval = 1;
        options.BaseLearningRate = 1e12;
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new RrmTrainer(options).Train(WeakDataset.From(Data)));
        StringAssert.Contains(e.Message, $"iteration {e.Iteration}");
        StringAssert.Contains(e.Message, e.LossName);
        Assert.IsFalse(double.IsFinite(e.Value));
        if (e.Iteration > 1)
        {
            // the checkpoint of the last good iteration is complete and loadable
            var header = Wsss.Model.Serialization.SafetensorsFile.ReadHeader(checkpoint);
            Assert.AreEqual((e.Iteration - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), header.Metadata["iteration"]);
        }

        Assert.AreEqual(0, Directory.GetFiles(dir.Path, "*.tmp").Length, "no temporary file left behind");
    }

    [TestMethod]
    public void CheckpointOfAnotherTrainingIsRejected()
    {
        using var dir = TestData.NewTempDirectory();
        string checkpoint = dir.File("run.ckpt");
        using (new RrmTrainer(Tiny(checkpoint, iterations: 3)).Train(WeakDataset.From(Data)))
        {
        }

        var other = Tiny(checkpoint, iterations: 6);
        other.Seed = 8;
        var e = Assert.ThrowsExactly<Wsss.Model.Serialization.FileFormatException>(() => new RrmTrainer(other).Train(WeakDataset.From(Data)));
        StringAssert.Contains(e.Message, "seed");
    }

    [TestMethod]
    public void CheckpointWithADamagedGeneratorState_IsRejected_AndTheProcessLivesOn()
    {
        // libtorch refuses a generator state of the wrong size; TorchSharp does not catch that error in set_rng_state,
        // so the checkpoint loader has to check first (it once terminated the test host instead).
        using var dir = TestData.NewTempDirectory();
        string checkpoint = dir.File("run.ckpt");
        using (new RrmTrainer(Tiny(checkpoint, iterations: 3)).Train(WeakDataset.From(Data)))
        {
        }

        var content = Wsss.Model.Serialization.SafetensorsFile.Read(checkpoint);
        var damaged = content.Tensors.Select(t => t.Name == "rng.cpu"
            ? new Wsss.Model.Serialization.TensorData(t.Name, t.DType, [100], t.Data[..100])
            : t).ToList();
        Wsss.Model.Serialization.SafetensorsFile.Write(checkpoint, damaged, content.Metadata);
        var e = Assert.ThrowsExactly<Wsss.Model.Serialization.FileFormatException>(() => new RrmTrainer(Tiny(checkpoint, iterations: 6)).Train(WeakDataset.From(Data)));
        StringAssert.Contains(e.Message, "rng.cpu");
        StringAssert.Contains(e.Message, "run.ckpt");

        // Without a generator state it is no checkpoint either.
        Wsss.Model.Serialization.SafetensorsFile.Write(checkpoint, damaged.Where(t => t.Name != "rng.cpu"), content.Metadata);
        e = Assert.ThrowsExactly<Wsss.Model.Serialization.FileFormatException>(() => new RrmTrainer(Tiny(checkpoint, iterations: 6)).Train(WeakDataset.From(Data)));
        StringAssert.Contains(e.Message, "rng.cpu");
    }

    [TestMethod]
    public void InvalidOptionsAndDataAreReportedByName()
    {
        var bad = Tiny();
        bad.BatchSize = 0;
        var e = Assert.ThrowsExactly<ArgumentException>(() => new RrmTrainer(bad));
        StringAssert.Contains(e.Message, "BatchSize");

        var unlabeled = new LabelledImage("lonely-7", new RgbImage(40, 40), [], ["a", "b"]);
        var e2 = Assert.ThrowsExactly<ArgumentException>(() => new RrmTrainer(Tiny()).Train(WeakDataset.From([unlabeled], ["a", "b"])));
        StringAssert.Contains(e2.Message, "lonely-7");
        StringAssert.Contains(e2.Message, "empty label set");
    }

    [TestMethod]
    public void SavedModelReloadsWithIdenticalPredictions()
    {
        using var dir = TestData.NewTempDirectory();
        using var model = new RrmTrainer(Tiny(iterations: 3)).Train(WeakDataset.From(Data));
        string path = dir.File("model.wsss");
        model.Save(path);
        using var loaded = SegmentationModel.Load(path);
        CollectionAssert.AreEqual(model.ClassNames.ToArray(), loaded.ClassNames.ToArray());
        var options = new PredictionOptions { IncludeProbabilities = true };
        var a = model.Predict(Data[5].Image, options);
        var b = loaded.Predict(Data[5].Image, options);
        CollectionAssert.AreEqual(a.Mask.Labels, b.Mask.Labels);
        CollectionAssert.AreEqual(a.Probabilities, b.Probabilities);

        File.WriteAllBytes(dir.File("broken.wsss"), File.ReadAllBytes(path)[..1000]);
        var e = Assert.ThrowsExactly<Wsss.Model.Serialization.FileFormatException>(() => SegmentationModel.Load(dir.File("broken.wsss")));
        StringAssert.Contains(e.Message, "broken.wsss");
    }

    [TestMethod]
    public void CamForwardsLeaveTrainedBatchNormStatisticsAlone()
    {
        // SmallCnn trains its BatchNorm. Only the scale-1 training forward of each step may move the running
        // statistics; the three CAM-only forwards (scales 0.5, 1.5, 2) of the seeded steps must not.
        var options = Tiny(iterations: 4);
        using var model = new RrmTrainer(options).Train(WeakDataset.From(Data));
        var norms = model.Network.Backbone.modules().OfType<Wsss.Model.Layers.FreezableBatchNorm2d>().ToList();
        Assert.IsTrue(norms.Count > 0);
        Assert.IsFalse(norms[0].Frozen);
        foreach (var bn in norms)
        {
            Assert.AreEqual(4L, bn.NumBatchesTracked.item<long>(), "one training forward per iteration, none from the CAM forwards");
        }
    }
}
