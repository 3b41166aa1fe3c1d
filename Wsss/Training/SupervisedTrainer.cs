using System.Diagnostics;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.Training;

/// <summary>
/// Training on masks: the same network as <see cref="RrmTrainer"/> builds (backbone + segmentation branch; the
/// classification branch is unused), trained with a plain pixel-wise cross-entropy (255 ignored), with the same
/// augmentation, optimiser groups, learning rates and poly decay. Two uses: the second step of the paper's two-step
/// variant (spec section 8: a segmentation network trained on the pseudo masks a weakly trained model wrote), and the
/// fully supervised reference point of the quality benchmark ("how close does weak supervision get?"). It reuses
/// <see cref="RrmTrainingOptions"/> (backbone, weights, iterations, batch, crop, learning rate, momentum, threads,
/// seed, checkpoints, progress interval) and ignores the weak-supervision settings (warm-up, seeds, energy loss).
/// </summary>
internal static class SupervisedTrainer
{
    /// <summary>
    /// Trains on the images and masks of <paramref name="data"/> (every image needs a mask). With
    /// <paramref name="cpuSecondsBudget"/>, training stops once the process has used that much CPU time
    /// (the poly schedule still assumes <see cref="RrmTrainingOptions.Iterations"/> iterations, so set those
    /// to an upper bound); the iterations actually run are returned.
    /// </summary>
    public static (SegmentationModel Model, int Iterations) Train(IWeakDataset data, RrmTrainingOptions options, double? cpuSecondsBudget = null, Action<int, double>? progress = null) =>
        Train(data, options, progress is null ? null : new Callback(p => progress(p.Iteration, p.Loss)), cpuSecondsBudget, CancellationToken.None);

    /// <summary>
    /// Trains on the images and masks of <paramref name="data"/>, reporting every
    /// <see cref="RrmTrainingOptions.ProgressInterval"/> iterations. With <see cref="RrmTrainingOptions.CheckpointPath"/>
    /// a checkpoint is written every <see cref="RrmTrainingOptions.CheckpointInterval"/> iterations, at the end and on
    /// cancellation, and an existing one is resumed (bit-exactly: augmentation and order are functions of the seed and
    /// the iteration). Returns the model and the completed iterations.
    /// </summary>
    /// <exception cref="ArgumentException">An image has no mask (named), or the dataset has no images.</exception>
    /// <exception cref="TrainingDivergedException">The cross-entropy became NaN or infinite.</exception>
    /// <exception cref="OperationCanceledException">Cancelled (the checkpoint, when there is one, holds the progress).</exception>
    public static (SegmentationModel Model, int Iterations) Train(
        IWeakDataset data, RrmTrainingOptions options, IProgress<TrainingProgress>? progress, double? cpuSecondsBudget, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (data.Count == 0)
        {
            throw new ArgumentException("The dataset has no images.", nameof(data));
        }

        Device device = options.Device ?? Devices.Cpu;
        Devices.EnsureAvailable(device);
        TorchEngine.Threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        TorchEngine.ConfigureAllocatorUnlessConfigured();
        manual_seed((uint)options.Seed);
        int classes = data.ClassNames.Count;
        // The same network the weak trainer builds, pretrained weights included, so the two compare like for like.
        var network = RrmTrainer.BuildNetwork(options, classes);
        try
        {
            network.to(device);
            var metadata = RrmTrainer.Metadata(options, data, network);
            using var optimizer = RrmTrainer.Optimizer(options, network);
            int start = 0;
            if (options.CheckpointPath is { } path)
            {
                AtomicFile.DeleteAbandonedTemporaries(path);
                if (options.ResumeFromCheckpoint && File.Exists(path))
                {
                    start = Checkpoint.Load(path, metadata, network, optimizer, options.Seed, Checkpoint.SupervisedKind);
                }
            }

            int completed = Run(data, options, network, optimizer, metadata, device, start, progress, cpuSecondsBudget, cancellationToken);
            return (new SegmentationModel(network, metadata, device), completed);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private static int Run(
        IWeakDataset data, RrmTrainingOptions options, RrmNetwork network, GroupedSgd optimizer, ModelFileMetadata metadata, Device device,
        int start, IProgress<TrainingProgress>? progress, double? cpuSecondsBudget, CancellationToken cancellationToken)
    {
        void Save(int iterations)
        {
            if (options.CheckpointPath is { } path)
            {
                Checkpoint.Save(path, metadata, network, optimizer, iterations, options.Seed, Checkpoint.SupervisedKind);
            }
        }

        network.train();
        var process = Process.GetCurrentProcess();
        double cpuStart = process.TotalProcessorTime.TotalSeconds;
        var clock = Stopwatch.StartNew();
        int total = options.Iterations, n = options.BatchSize, s = options.CropSize;
        for (int it = start; it < total; it++)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Save(it);
                cancellationToken.ThrowIfCancellationRequested();
            }

            process.Refresh();
            if (cpuSecondsBudget is { } budget && process.TotalProcessorTime.TotalSeconds - cpuStart >= budget)
            {
                Save(it);
                return it;
            }

            var watch = Stopwatch.StartNew();
            var (crops, valid, labels) = Batch(data, options, it);
            long labelled = 0, real = 0;
            for (int i = 0; i < labels.Length; i++)
            {
                if (valid[i / (s * s)][i % (s * s)] != 0)
                {
                    real++;
                    labelled += labels[i] != SegmentationMask.Ignore ? 1 : 0;
                }
            }

            double tData = watch.Elapsed.TotalMilliseconds;
            double lr = options.BaseLearningRate * Math.Pow(1.0 - ((double)it / total), options.PolyPower);
            optimizer.LearningRate = lr;
            double loss, tForward, tLoss, tBackward;
            using (NewDisposeScope())
            {
                watch.Restart();
                var images = ImageTensors.ToTensor(crops, metadata.Normalization, device, valid);
                var target = tensor(labels, [n, s, s], device: device).to(ScalarType.Int64);
                var logits = nn.functional.interpolate(network.ForwardSegmentation(images), [s, s], mode: InterpolationMode.Bilinear, align_corners: false);
                tForward = watch.Elapsed.TotalMilliseconds;
                watch.Restart();
                // A batch whose pixels are all 255 has a 0/0 mean: nothing to learn from it, so no step (the poly
                // schedule still advances, as it would for any batch).
                var ce = labelled == 0 ? null : nn.functional.cross_entropy(logits, target, ignore_index: SegmentationMask.Ignore);
                loss = ce?.ToDouble() ?? 0;
                if (!double.IsFinite(loss))
                {
                    throw new TrainingDivergedException(it + 1, "cross-entropy", loss);
                }

                tLoss = watch.Elapsed.TotalMilliseconds;
                watch.Restart();
                optimizer.ZeroGrad();
                ce?.backward();
                tBackward = watch.Elapsed.TotalMilliseconds;
                watch.Restart();
                if (ce is not null)
                {
                    optimizer.Step();
                }
            }

            double tOptimizer = watch.Elapsed.TotalMilliseconds;
            if (options.CheckpointPath is not null && ((it + 1) % options.CheckpointInterval == 0 || it + 1 == total))
            {
                Save(it + 1);
            }

            if (progress is not null && ((it + 1) % options.ProgressInterval == 0 || it == start || it + 1 == total))
            {
                int done = it + 1 - start;
                double seconds = clock.Elapsed.TotalSeconds;
                progress.Report(new TrainingProgress(
                    it + 1, total, loss, 0, loss, 0, lr, real == 0 ? 0 : (double)labelled / real,
                    done * n / seconds, clock.Elapsed, TimeSpan.FromSeconds(seconds / done * (total - it - 1)),
                    new StepTimings(tData, tForward, 0, 0, tLoss, tBackward, tOptimizer)));
            }
        }

        return total;
    }

    /// <summary>Iteration <paramref name="it"/>'s augmented crops, their valid-pixel masks and their labels (255 outside the image).</summary>
    private static (RgbImage[] Crops, byte[][] Valid, byte[] Labels) Batch(IWeakDataset data, RrmTrainingOptions options, int it)
    {
        int n = options.BatchSize, s = options.CropSize;
        var rng = DeterministicRandom.For(options.Seed, 2, it);
        double scale = Augmentation.BatchScale(rng, options.MinScale, options.MaxScale);
        var crops = new RgbImage[n];
        var valid = new byte[n][];
        var labels = new byte[n * s * s];
        for (int b = 0; b < n; b++)
        {
            long position = ((long)it * n) + b;
            int epoch = (int)(position / data.Count);
            int index = DeterministicRandom.Permutation(options.Seed, epoch, data.Count)[(int)(position % data.Count)];
            LabelledImage item = data.Load(index).Downscaled(options.MaxImageSide);
            var mask = item.Mask ?? throw new ArgumentException($"Image '{item.Id}' has no mask; training on masks needs one per image.");
            bool flip = options.HorizontalFlip && rng.Next(2) == 1;
            var (aug, cropLabels) = Augmentation.ApplyWithLabels(item.Image, mask.Labels, scale, flip, s, rng);
            crops[b] = aug.Crop;
            valid[b] = aug.Valid;
            cropLabels.CopyTo(labels, b * s * s);
        }

        return (crops, valid, labels);
    }

    /// <summary>Reports synchronously on the training thread.</summary>
    private sealed class Callback(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
