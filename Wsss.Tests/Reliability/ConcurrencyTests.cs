using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Data;
using Wsss.Engine;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Model.Serialization;
using Wsss.Tests.Inference;
using Wsss.Training;

namespace Wsss.Tests.Reliability;

/// <summary>
/// One model predicting on 8 threads while a ninth thread trains another model: every prediction equals the
/// sequential one, and the model trained meanwhile equals one trained alone. Apart from the other classes: training
/// sets libtorch's process-wide generator and thread count, which the comparison with the lone run depends on.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ConcurrencyTests
{
    private static RrmTrainingOptions Second() => new()
    {
        Backbone = BackboneKind.SmallCnn,
        Iterations = 12,
        BatchSize = 2,
        CropSize = 40,
        BaseLearningRate = 0.01,
        Momentum = 0.9,
        ClassificationWarmupFraction = 0.3,
        // One thread, as the predictions run: the trainer sets libtorch's (process-wide) thread count.
        Threads = 1,
        Seed = 11,
    };

    private static byte[][] Weights(SegmentationModel model) => SegmentationModel.ExportTensors(model.Network).Select(t => t.Data).ToArray();

    [TestMethod]
    public void EightThreadsPredicting_WhileAnotherTrains_GiveTheSequentialResults()
    {
        int threadsBefore = TorchEngine.Threads;
        try
        {
            TorchEngine.Threads = 1;
            using SegmentationModel model = TinyModel.Train(iterations: 20);
            var images = Enumerable.Range(0, 8).Select(i => TinyModel.Data[i].Image).ToArray();
            var options = new PredictionOptions { Scales = [0.75, 1.0], Flip = true, UseCrf = true, IncludeProbabilities = true };
            TorchEngine.Threads = 1;
            var sequential = images.Select(im => model.Predict(im, options)).ToArray();

            byte[][] alone;
            using (SegmentationModel trainedAlone = new RrmTrainer(Second()).Train(WeakDataset.From(TinyModel.Data)))
            {
                alone = Weights(trainedAlone);
            }

            // The ninth thread trains the second model while the eight predict, round after round, until it is done
            // (and at least two rounds, so that predictions also overlap its start).
            SegmentationModel? trained = null;
            Exception? trainingError = null;
            var trainer = new Thread(() =>
            {
                try
                {
                    trained = new RrmTrainer(Second()).Train(WeakDataset.From(TinyModel.Data));
                }
                catch (Exception e)
                {
                    trainingError = e;
                }
            });

            const int Predictors = 8;
            var mismatches = new System.Collections.Concurrent.ConcurrentBag<string>();
            int predictions = 0;
            using var start = new Barrier(Predictors + 1);
            var predictors = Enumerable.Range(0, Predictors).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                for (int round = 0; round < 2 || trainer.IsAlive; round++)
                {
                    for (int k = 0; k < images.Length; k++)
                    {
                        int i = (k + t) % images.Length;
                        SegmentationResult r = model.Predict(images[i], options);
                        Interlocked.Increment(ref predictions);
                        if (!r.Mask.Labels.AsSpan().SequenceEqual(sequential[i].Mask.Labels) || !r.Probabilities!.AsSpan().SequenceEqual(sequential[i].Probabilities))
                        {
                            mismatches.Add($"thread {t}, round {round}, image {i}");
                        }
                    }
                }
            })).ToList();
            predictors.ForEach(p => p.Start());
            start.SignalAndWait();
            trainer.Start();
            trainer.Join();
            predictors.ForEach(p => p.Join());

            Assert.IsNull(trainingError, $"training beside the predictions failed: {trainingError}");
            using (trained)
            {
                Assert.AreEqual(0, mismatches.Count, $"{mismatches.Count} of {predictions} predictions differ from the sequential ones: {string.Join("; ", mismatches.Take(5))}");
                Assert.IsTrue(predictions >= Predictors * images.Length * 2);
                byte[][] beside = Weights(trained!);
                Assert.AreEqual(alone.Length, beside.Length);
                for (int i = 0; i < alone.Length; i++)
                {
                    CollectionAssert.AreEqual(alone[i], beside[i], $"tensor {i} of the model trained beside the predictions differs from the one trained alone");
                }
            }
        }
        finally
        {
            TorchEngine.Threads = threadsBefore;
        }
    }
}
