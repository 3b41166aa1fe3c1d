using System.Diagnostics;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Losses;
using Wsss.Model;
using TorchSharp;
using Wsss.Engine;
using Wsss.Seeds;
using static TorchSharp.torch;

namespace Wsss.Training;

/// <summary>
/// RRM's one-step training (spec sections 2-6). Each iteration: augment a batch (one random scale, flip,
/// random crop with padding), forward both branches, build multi-scale CAMs, prune them into reliable
/// seeds with two dense CRFs, then minimise classification + seeded cross-entropy + dense energy losses
/// with SGD (four parameter groups, poly decay). Progress, cancellation, checkpoints and resume included.
/// </summary>
public sealed class RrmTrainer
{
    private readonly RrmTrainingOptions options;

    /// <summary>Creates a trainer; the options are validated now.</summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public RrmTrainer(RrmTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.options = options;
    }

    /// <summary>
    /// Trains on <paramref name="data"/> and returns the model. With a checkpoint path, a checkpoint is
    /// written every <see cref="RrmTrainingOptions.CheckpointInterval"/> iterations and when cancelled, and
    /// an existing one is resumed.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled; the checkpoint (if any) holds the last completed iteration.</exception>
    /// <exception cref="TrainingDivergedException">A loss became NaN or infinite.</exception>
    /// <exception cref="ArgumentException">The dataset is empty or an image has no label.</exception>
    public SegmentationModel Train(IWeakDataset data, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0)
        {
            throw new ArgumentException("The training set is empty.", nameof(data));
        }

        if (data.ClassNames.Count == 0)
        {
            throw new ArgumentException("The training set has no class names.", nameof(data));
        }

        Device device = options.Device ?? Devices.Cpu;
        Devices.EnsureAvailable(device);
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        TorchEngine.Threads = threads;
        TorchEngine.ConfigureAllocatorUnlessConfigured();
        manual_seed((uint)options.Seed);

        int classes = data.ClassNames.Count;
        var network = BuildNetwork(classes);
        try
        {
            network.to(device);
            var metadata = Metadata(options, data, network);
            using var optimizer = Optimizer(options, network);
            int start = 0;
            if (options.CheckpointPath is { } path)
            {
                // A run killed while writing its checkpoint leaves the temporary file (the checkpoint itself is intact).
                AtomicFile.DeleteAbandonedTemporaries(path);
            }

            if (options.CheckpointPath is { } cp && options.ResumeFromCheckpoint && File.Exists(cp))
            {
                start = Checkpoint.Load(cp, metadata, network, optimizer, options.Seed);
            }

            new Loop(options, data, network, optimizer, metadata, device, threads).Run(start, progress, cancellationToken);
            return new SegmentationModel(network, metadata, device);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private RrmNetwork BuildNetwork(int classes) => BuildNetwork(options, classes);

    /// <summary>What the model file (and a checkpoint) says of a training with <paramref name="options"/> on <paramref name="data"/>.</summary>
    internal static ModelFileMetadata Metadata(RrmTrainingOptions options, IWeakDataset data, RrmNetwork network) => new()
    {
        Backbone = options.Backbone,
        BackboneWidth = options.BackboneWidth,
        ClassNames = data.ClassNames.ToArray(),
        Normalization = network.Backbone.Normalization,
        TrainingOptionsJson = options.ToJson(),
    };

    /// <summary>Spec section 6's SGD over the network's four parameter groups.</summary>
    internal static GroupedSgd Optimizer(RrmTrainingOptions options, RrmNetwork network) =>
        new(network.ParameterGroups(options.WeightDecay, options.BackboneLearningRateFactor), options.BaseLearningRate, options.Momentum);

    /// <summary>The RRM network of <paramref name="options"/>: its backbone, with the pretrained weights when a path is set.</summary>
    internal static RrmNetwork BuildNetwork(RrmTrainingOptions options, int classes)
    {
        Backbone backbone = PretrainedBackbone.Load(
            options.Backbone, options.PretrainedWeightsPath, options.BackboneWidth, options.FrozenBatchNorm, options.UsePackagedWeights);
        if (options.BackboneLearningRateFactor == 0)
        {
            // A backbone that never moves needs no gradients: backward then stops at the heads instead of
            // computing every backbone gradient only to multiply it by a zero learning rate.
            backbone.Freeze();
        }

        return new RrmNetwork(backbone, classes);
    }

    /// <summary>The state of one training run.</summary>
    private sealed class Loop(RrmTrainingOptions options, IWeakDataset data, RrmNetwork network, GroupedSgd optimizer, ModelFileMetadata metadata, Device device, int threads)
    {
        private readonly int classes = data.ClassNames.Count;
        private readonly Dictionary<int, int[]> epochOrders = new();
        private float[] camValues = [];

        public void Run(int start, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
        {
            int total = options.Iterations;
            int warmupEnd = (int)Math.Floor(options.ClassificationWarmupFraction * total);
            using var seeds = new ReliableSeeds(options.Seeds, threads);
            // The trainer's thread count governs all of its CPU work, the energy loss's lattices included.
            using var energy = new DenseEnergyLoss(options.Energy.Threads == 0 ? options.Energy with { Threads = threads } : options.Energy);
            network.train();
            var clock = Stopwatch.StartNew();
            Task<Batch>? next = start < total ? Task.Run(() => PrepareBatch(start), cancellationToken) : null;
            for (int it = start; it < total; it++)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    SaveCheckpoint(it);
                    cancellationToken.ThrowIfCancellationRequested();
                }

                var watch = Stopwatch.StartNew();
                Batch batch = next!.GetAwaiter().GetResult();
                // A copy for the lambda: a lambda captures the loop variable itself, and a prefetch that starts after
                // the loop has moved on would read the next value and prepare the wrong iteration's batch.
                int following = it + 1;
                next = following < total ? Task.Run(() => PrepareBatch(following), cancellationToken) : null;
                double tData = Lap(watch);

                double lr = options.BaseLearningRate * Math.Pow(1.0 - ((double)it / total), options.PolyPower);
                optimizer.LearningRate = lr;
                StepResult r;
                // Every tensor of the step (activations, graph, losses, the optimiser's temporaries) is freed here.
                using (NewDisposeScope())
                {
                    r = Step(batch, it >= warmupEnd, seeds, energy, it + 1, watch);
                }

                if (options.CheckpointPath is not null && ((it + 1) % options.CheckpointInterval == 0 || it + 1 == total))
                {
                    SaveCheckpoint(it + 1);
                }

                if (progress is not null && ((it + 1) % options.ProgressInterval == 0 || it == start || it + 1 == total))
                {
                    int done = it + 1 - start;
                    double perIteration = clock.Elapsed.TotalSeconds / done;
                    progress.Report(new TrainingProgress(
                        it + 1, total, r.Loss, r.Classification, r.Seed, r.Energy, lr, r.Coverage,
                        done * options.BatchSize / clock.Elapsed.TotalSeconds, clock.Elapsed,
                        TimeSpan.FromSeconds(perIteration * (total - it - 1)),
                        r.Timings with { Data = tData }));
                }
            }

            next?.Wait(cancellationToken);
        }

        private StepResult Step(Batch batch, bool withSeeds, ReliableSeeds seeds, DenseEnergyLoss energy, int iteration, Stopwatch watch)
        {
            int n = batch.Crops.Length, s = options.CropSize;
            var images = ImageTensors.ToTensor(batch.Crops, metadata.Normalization, device, batch.Valid);
            var labels = tensor(batch.MultiHot, [n, classes], device: device);
            var output = network.forward(images);
            double tForward = Lap(watch);

            var cls = ClassificationLoss.Compute(output.ClassLogits, labels);
            Tensor total = cls.Times(options.ClassificationLossWeight);
            double tCam = 0, tSeeds = 0, coverage = 0;
            Tensor? seedLoss = null, energyLoss = null;
            if (withSeeds)
            {
                var cams = network.MultiScaleCam(images, labels, output.Cam, options.CamScales);
                // One reused buffer: a fresh 33 MB array per step (batch 4, 20 classes, 321x321) cost a
                // large-object allocation, its zeroing and frequent gen-2 collections.
                long camCount = cams.numel();
                if (camValues.Length != camCount)
                {
                    camValues = new float[camCount];
                }

                cams.CopyToSpan<float>(camValues);
                tCam = Lap(watch);

                byte[] seedMap = ComputeSeeds(batch, camValues, seeds);
                int labelled = 0, real = 0;
                for (int i = 0; i < seedMap.Length; i++)
                {
                    int img = i / (s * s), px = i % (s * s);
                    if (batch.Valid[img][px] == 0)
                    {
                        // Padding is not part of the image: never a training target.
                        seedMap[i] = ReliableSeeds.Ignore;
                        continue;
                    }

                    real++;
                    labelled += seedMap[i] != ReliableSeeds.Ignore ? 1 : 0;
                }

                coverage = real == 0 ? 0 : (double)labelled / real;
                tSeeds = Lap(watch);

                var seedTensor = tensor(seedMap, [n, s, s], device: device).to(ScalarType.Int64);
                // Upsampled once for both losses (the cross-entropy skips its own interpolation when the
                // sizes match): same values, one bilinear pass and its backward saved.
                var upsampledLogits = nn.functional.interpolate(output.SegmentationLogits, [s, s], mode: InterpolationMode.Bilinear, align_corners: false);
                var ce = SeededCrossEntropy.Compute(upsampledLogits, seedTensor, options.SeedClassBalance);
                seedLoss = ce.Total;
                total = total.Plus(seedLoss.Times(options.SeedLossWeight));
                if (options.EnergyLossWeight > 0)
                {
                    var probabilities = nn.functional.softmax(upsampledLogits, 1);
                    var cropMask = tensor(batch.Valid.SelectMany(v => v).ToArray(), [n, s, s], device: device).to(ScalarType.Float32);
                    energyLoss = energy.Forward(probabilities, batch.Crops, seedTensor, cropMask);
                    total = total.Plus(energyLoss.Times(options.EnergyLossWeight));
                }
            }

            double clsValue = cls.ToDouble();
            double seedValue = seedLoss?.ToDouble() ?? 0;
            double energyValue = energyLoss?.ToDouble() ?? 0;
            double totalValue = total.ToDouble();
            CheckFinite(iteration, "classification", clsValue);
            CheckFinite(iteration, "seed", seedValue);
            CheckFinite(iteration, "energy", energyValue);
            CheckFinite(iteration, "total", totalValue);
            double tLosses = Lap(watch);
            optimizer.ZeroGrad();
            total.backward();

            double tBackward = Lap(watch);
            optimizer.Step();
            double tOptimizer = Lap(watch);
            output.Dispose();
            return new StepResult(totalValue, clsValue, seedValue, energyValue, coverage,
                new StepTimings(0, tForward, tCam, tSeeds, tLosses - 0, tBackward, tOptimizer));
        }

        private byte[] ComputeSeeds(Batch batch, float[] cams, ReliableSeeds seeds)
        {
            int n = batch.Crops.Length, s = options.CropSize, plane = s * s;
            var result = new byte[n * plane];
            var present = new byte[n * classes];
            for (int i = 0; i < present.Length; i++)
            {
                present[i] = batch.MultiHot[i] > 0.5f ? (byte)1 : (byte)0;
            }

            if (options.UseCrfInSeeds)
            {
                var pixels = new byte[n * plane * 3];
                for (int i = 0; i < n; i++)
                {
                    batch.Crops[i].Pixels.CopyTo(pixels, i * plane * 3);
                }

                seeds.ComputeBatch(pixels, n, s, s, present, cams, classes, result);
            }
            else
            {
                Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
                {
                    var one = CamSeeds.Compute(cams.AsSpan(i * classes * plane, classes * plane), present.AsSpan(i * classes, classes), s, s, options.Seeds);
                    one.CopyTo(result, i * plane);
                });
            }

            return result;
        }

        private static void CheckFinite(int iteration, string name, double value)
        {
            if (!double.IsFinite(value))
            {
                throw new TrainingDivergedException(iteration, name, value);
            }
        }

        private void SaveCheckpoint(int completed)
        {
            if (options.CheckpointPath is { } path)
            {
                Checkpoint.Save(path, metadata, network, optimizer, completed, options.Seed);
            }
        }

        private Batch PrepareBatch(int iteration)
        {
            int n = options.BatchSize;
            var rng = DeterministicRandom.For(options.Seed, 2, iteration);
            double scale = Augmentation.BatchScale(rng, options.MinScale, options.MaxScale);
            var crops = new RgbImage[n];
            var valid = new byte[n][];
            var multiHot = new float[n * classes];
            for (int b = 0; b < n; b++)
            {
                long position = ((long)iteration * n) + b;
                int epoch = (int)(position / data.Count);
                int index = Order(epoch)[(int)(position % data.Count)];
                LabelledImage item = data.Load(index).Downscaled(options.MaxImageSide);
                if (item.Labels.Length == 0)
                {
                    throw new ArgumentException($"Training image '{item.Id}' has an empty label set; weakly supervised training needs at least one class per image.");
                }

                foreach (int c in item.Labels)
                {
                    if (c < 0 || c >= classes)
                    {
                        throw new ArgumentException($"Training image '{item.Id}' has label {c}, outside the {classes} classes.");
                    }

                    multiHot[(b * classes) + c] = 1;
                }

                bool flip = options.HorizontalFlip && rng.Next(2) == 1;
                var aug = Augmentation.Apply(item.Image, scale, flip, options.CropSize, rng);
                crops[b] = aug.Crop;
                valid[b] = aug.Valid;
            }

            return new Batch(crops, valid, multiHot);
        }

        private int[] Order(int epoch)
        {
            lock (epochOrders)
            {
                if (!epochOrders.TryGetValue(epoch, out var order))
                {
                    order = DeterministicRandom.Permutation(options.Seed, epoch, data.Count);
                    epochOrders.Remove(epoch - 2);
                    epochOrders[epoch] = order;
                }

                return order;
            }
        }

        private static double Lap(Stopwatch watch)
        {
            double ms = watch.Elapsed.TotalMilliseconds;
            watch.Restart();
            return ms;
        }
    }

    private sealed record Batch(RgbImage[] Crops, byte[][] Valid, float[] MultiHot);

    private sealed record StepResult(double Loss, double Classification, double Seed, double Energy, double Coverage, StepTimings Timings);
}
