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
/// The fully supervised reference point of the quality benchmark: the same network as
/// <see cref="RrmTrainer"/> builds (backbone + segmentation branch; the classification branch is unused),
/// trained with a plain cross-entropy on the true masks, with the same augmentation, optimiser groups,
/// learning rates and poly decay. It exists to answer "how close does weak supervision get?", so it
/// deliberately reuses <see cref="RrmTrainingOptions"/> (iterations, batch, crop, learning rate, momentum,
/// threads, seed) and ignores the weak-supervision settings.
/// </summary>
internal static class SupervisedTrainer
{
    /// <summary>
    /// Trains on the images and masks of <paramref name="data"/> (every image needs a mask). With
    /// <paramref name="cpuSecondsBudget"/>, training stops once the process has used that much CPU time
    /// (the poly schedule still assumes <see cref="RrmTrainingOptions.Iterations"/> iterations, so set those
    /// to an upper bound); the iterations actually run are returned.
    /// </summary>
    public static (SegmentationModel Model, int Iterations) Train(IWeakDataset data, RrmTrainingOptions options, double? cpuSecondsBudget = null, Action<int, double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Device device = options.Device ?? Devices.Cpu;
        Devices.EnsureAvailable(device);
        TorchEngine.Threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        TorchEngine.ConfigureAllocatorUnlessConfigured();
        manual_seed((uint)options.Seed);
        int classes = data.ClassNames.Count;
        // The same network the weak trainer builds, pretrained weights included, so the two compare like for like.
        var network = RrmTrainer.BuildNetwork(options, classes);
        network.to(device);
        var metadata = new ModelFileMetadata
        {
            Backbone = options.Backbone,
            BackboneWidth = options.BackboneWidth,
            ClassNames = data.ClassNames.ToArray(),
            Normalization = network.Backbone.Normalization,
            TrainingOptionsJson = options.ToJson(),
        };
        using var optimizer = new GroupedSgd(network.ParameterGroups(options.WeightDecay, options.BackboneLearningRateFactor), options.BaseLearningRate, options.Momentum);
        network.train();
        var process = Process.GetCurrentProcess();
        double cpuStart = process.TotalProcessorTime.TotalSeconds;
        int total = options.Iterations, n = options.BatchSize, s = options.CropSize, done = 0;
        for (int it = 0; it < total; it++)
        {
            process.Refresh();
            if (cpuSecondsBudget is { } budget && process.TotalProcessorTime.TotalSeconds - cpuStart >= budget)
            {
                break;
            }

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
                LabelledImage item = data.Load(index);
                var mask = item.Mask ?? throw new ArgumentException($"Image '{item.Id}' has no mask; supervised training needs one per image.");
                bool flip = options.HorizontalFlip && rng.Next(2) == 1;
                var (aug, cropLabels) = Augmentation.ApplyWithLabels(item.Image, mask.Labels, scale, flip, s, rng);
                crops[b] = aug.Crop;
                valid[b] = aug.Valid;
                cropLabels.CopyTo(labels, b * s * s);
            }

            optimizer.LearningRate = options.BaseLearningRate * Math.Pow(1.0 - ((double)it / total), options.PolyPower);
            double loss;
            using (NewDisposeScope())
            {
                var images = ImageTensors.ToTensor(crops, metadata.Normalization, device, valid);
                var target = tensor(labels, [n, s, s], device: device).to(ScalarType.Int64);
                var logits = nn.functional.interpolate(network.ForwardSegmentation(images), [s, s], mode: InterpolationMode.Bilinear, align_corners: false);
                var ce = nn.functional.cross_entropy(logits, target, ignore_index: 255);
                loss = ce.ToDouble();
                optimizer.ZeroGrad();
                ce.backward();
                optimizer.Step();
            }

            done++;
            progress?.Invoke(done, loss);
        }

        return (new SegmentationModel(network, metadata, device), done);
    }
}
