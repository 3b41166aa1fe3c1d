using Wsss.Engine;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using static TorchSharp.torch;

namespace Wsss.Tests.Onnx;

/// <summary>
/// Networks with random but reproducible weights and test images, for comparing an exported ONNX model with TorchSharp
/// (shared with Wsss.MLNet.Tests, which links this file).
/// </summary>
internal static class RandomNetworks
{
    /// <summary>The foreground classes of <see cref="Model"/>.</summary>
    public static readonly string[] ClassNames = ["cat", "dog", "person"];

    /// <summary>
    /// A network with random weights whose BatchNorm statistics are calibrated on two test images: one training-mode
    /// forward (no gradients) with momentum 1 makes the running statistics those of the batch. Without it, random features
    /// are dominated by a spatially constant part and every pixel gets the same class, which tests little.
    /// <paramref name="prepare"/>, if given, changes the random backbone before the calibration.
    /// </summary>
    public static SegmentationModel Model(Backbone backbone, BackboneKind kind, double width = 1.0, int seed = 7, Action<Backbone>? prepare = null)
    {
        var network = new RrmNetwork(backbone, ClassNames.Length);
        Randomize(network, seed);
        prepare?.Invoke(backbone);
        bool frozen = backbone.FrozenBatchNorm;
        using (no_grad())
        using (NewDisposeScope())
        {
            var batch = ImageTensors.ToTensor([Image(40, 40, 101), Image(40, 40, 102)], backbone.Normalization, Devices.Cpu);
            var layers = backbone.modules().OfType<Wsss.Model.Layers.FreezableBatchNorm2d>().ToArray();
            backbone.FrozenBatchNorm = false;
            backbone.train();
            Array.ForEach(layers, bn => bn.Momentum = 1.0);
            backbone.forward(batch);
            Array.ForEach(layers, bn => bn.Momentum = 0.1);
            backbone.FrozenBatchNorm = frozen;
        }

        return new SegmentationModel(network, Metadata(kind, width, ClassNames, backbone.Normalization), Devices.Cpu);
    }

    /// <summary>
    /// He-uniform weights from a seeded managed generator: the same network in every run, whatever other tests draw from
    /// libtorch's global generator at the same time (test classes run in parallel).
    /// </summary>
    private static void Randomize(RrmNetwork network, int seed)
    {
        var rng = new Random(seed);
        using (no_grad())
        {
            foreach (var p in network.parameters().Where(p => p.dim() == 4))
            {
                double bound = Math.Sqrt(6.0 / (p.shape[1] * p.shape[2] * p.shape[3]));
                var values = new float[p.numel()];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (float)(((rng.NextDouble() * 2) - 1) * bound);
                }

                p.CopyFromSpan<float>(values);
            }
        }
    }

    public static ModelFileMetadata Metadata(BackboneKind kind, double width, string[] names, InputNormalization? normalization = null) => new()
    {
        Backbone = kind, BackboneWidth = width, ClassNames = names, Normalization = normalization ?? InputNormalization.ImageNet,
    };

    /// <summary>A smooth colour pattern with some noise: structure at several scales, different per seed.</summary>
    public static RgbImage Image(int height, int width, int seed)
    {
        var rng = new Random(seed);
        double fx = 0.05 + (rng.NextDouble() * 0.3), fy = 0.05 + (rng.NextDouble() * 0.3), phase = rng.NextDouble() * 6;
        var image = new RgbImage(height, width);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    double v = 128 + (90 * Math.Sin((fx * x * (c + 1)) + (fy * y) + phase + c)) + rng.Next(-20, 21);
                    image.Pixels[(((y * width) + x) * 3) + c] = (byte)Math.Clamp(v, 0, 255);
                }
            }
        }

        return image;
    }

    /// <summary>The image as R, G, B planes (or B, G, R, A with alpha 255) of raw 0-255 values.</summary>
    public static float[] Planes(RgbImage image, bool bgra)
    {
        int plane = image.Height * image.Width;
        var data = new float[(bgra ? 4 : 3) * plane];
        for (int i = 0; i < plane; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                data[((bgra ? 2 - c : c) * plane) + i] = image.Pixels[(3 * i) + c];
            }

            if (bgra)
            {
                data[(3 * plane) + i] = 255;
            }
        }

        return data;
    }

    public static (long Same, long Count) ArgmaxAgreement(float[] a, float[] b, int classes)
    {
        var x = Argmax(a, classes);
        var y = Argmax(b, classes);
        return (x.Zip(y).Count(p => p.First == p.Second), x.Length);
    }

    public static int[] Argmax(float[] probabilities, int classes)
    {
        int plane = probabilities.Length / classes;
        var result = new int[plane];
        for (int i = 0; i < plane; i++)
        {
            for (int c = 1; c < classes; c++)
            {
                if (probabilities[(c * plane) + i] > probabilities[(result[i] * plane) + i])
                {
                    result[i] = c;
                }
            }
        }

        return result;
    }
}
