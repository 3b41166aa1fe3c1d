using Wsss.Imaging;
using Wsss.Model;
using Wsss.Model.Serialization;
using Wsss.Seeds;
using Wsss.Torch;
using F = Wsss.Torch.Functional;

namespace Wsss.Inference;

/// <summary>
/// A trained RRM network with what is needed to use it: class names, input normalisation, backbone kind.
/// Saved as one safetensors file (<see cref="Save"/>, <see cref="Load"/>). <see cref="Predict(RgbImage, PredictionOptions?)"/>
/// may be called from many threads at once.
/// </summary>
public sealed class SegmentationModel : IDisposable
{
    private bool disposed;

    internal SegmentationModel(RrmNetwork network, ModelFileMetadata metadata, Device device)
    {
        Network = network;
        Metadata = metadata;
        Device = device;
        network.Eval();
    }

    /// <summary>Foreground class names; mask value c + 1 is class c, 0 is background.</summary>
    public IReadOnlyList<string> ClassNames => Metadata.ClassNames;

    /// <summary>The backbone the network was built on.</summary>
    public BackboneKind Backbone => Metadata.Backbone;

    /// <summary>Device the network runs on.</summary>
    public Device Device { get; }

    /// <summary>The metadata stored in the model file.</summary>
    public ModelFileMetadata Metadata { get; }

    internal RrmNetwork Network { get; }

    /// <summary>Writes the model atomically to <paramref name="path"/> (one safetensors file readable by Python's safetensors).</summary>
    public void Save(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ModelFile.Save(path, Metadata, ExportTensors(Network));
    }

    /// <summary>Loads a model file onto <paramref name="device"/> (default: the CPU).</summary>
    /// <exception cref="FileFormatException">The file is not a Wsss model, is damaged, comes from another format version, or its tensors do not fit the architecture it names.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SegmentationModel Load(string path, Device? device = null)
    {
        Device d = device ?? Device.Cpu;
        d.EnsureAvailable();
        ModelFile file = ModelFile.Load(path);
        var metadata = file.Metadata;
        var network = new RrmNetwork(Backbones.Create(metadata.Backbone, metadata.BackboneWidth), metadata.ClassNames.Count);
        try
        {
            var weights = ModelWeights.FromTensors(file.Tensors);
            ModelWeights.Load(network, weights);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            network.Dispose();
            throw new FileFormatException(path, null, $"its tensors do not fit a {metadata.Backbone} network with {metadata.ClassNames.Count} classes: {e.Message}");
        }

        network.To(d);
        return new SegmentationModel(network, metadata, d);
    }

    /// <summary>Segments an image file.</summary>
    public SegmentationResult Predict(string imagePath, PredictionOptions? options = null) => Predict(ImageCodec.Decode(imagePath), options);

    /// <summary>Segments encoded image bytes (JPEG, PNG...).</summary>
    public SegmentationResult Predict(ReadOnlySpan<byte> encodedImage, PredictionOptions? options = null) => Predict(ImageCodec.Decode(encodedImage), options);

    /// <summary>
    /// Segments an RGB image: class probabilities at each scale (and flipped, if asked), upsampled to the
    /// image size and averaged, optionally refined by a dense CRF, then the most probable class per pixel.
    /// </summary>
    public SegmentationResult Predict(RgbImage image, PredictionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ObjectDisposedException.ThrowIf(disposed, this);
        options ??= PredictionOptions.Default;
        options.Validate();
        int h = image.Height, w = image.Width, k = ClassNames.Count + 1;
        float[] probabilities;
        using (Torch.Torch.NoGrad())
        using (Torch.Torch.NewDisposeScope())
        {
            var input = ImageTensors.ToTensor([image], Metadata.Normalization, Device);
            Tensor? sum = null;
            int count = 0;
            foreach (double s in options.Scales)
            {
                long sh = Math.Max(1, (long)(h * s)), sw = Math.Max(1, (long)(w * s));
                var scaled = s == 1.0 ? input : F.Interpolate(input, sh, sw, InterpolationMode.Bilinear);
                foreach (bool flip in options.Flip ? new[] { false, true } : [false])
                {
                    var x = flip ? scaled.Flip(3) : scaled;
                    var logits = Network.Segmentation.Forward(Network.Backbone.Forward(x));
                    var p = F.Softmax(F.Interpolate(logits, h, w, InterpolationMode.Bilinear), 1);
                    if (flip)
                    {
                        p = p.Flip(3);
                    }

                    sum = sum is null ? p : sum + p;
                    count++;
                }
            }

            probabilities = (sum! / count).To(Device.Cpu).ToArray<float>();
        }

        if (options.UseCrf)
        {
            using var crf = new DenseCrf(options.Crf);
            probabilities = crf.Infer(image, probabilities, k);
        }

        var mask = new SegmentationMask(h, w);
        Argmax(probabilities, k, mask.Labels);
        return new SegmentationResult(mask, options.IncludeProbabilities ? probabilities : null);
    }

    /// <summary>Frees the network.</summary>
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            Network.Dispose();
        }
    }

    internal static IEnumerable<TensorData> ExportTensors(RrmNetwork network)
    {
        foreach (var (name, tensor) in network.StateDict())
        {
            using var cpu = tensor.Detach().To(Device.Cpu);
            yield return cpu.DType switch
            {
                DType.Int64 => TensorData.FromInt64s(name, cpu.Shape.ToArray(), cpu.ToArray<long>()),
                _ => TensorData.FromFloats(name, cpu.Shape.ToArray(), cpu.To(DType.Float32).ToArray<float>()),
            };
        }
    }

    private static void Argmax(float[] probabilities, int classes, byte[] labels)
    {
        int plane = labels.Length;
        for (int i = 0; i < plane; i++)
        {
            int best = 0;
            float bestValue = probabilities[i];
            for (int c = 1; c < classes; c++)
            {
                float v = probabilities[(c * plane) + i];
                if (v > bestValue)
                {
                    bestValue = v;
                    best = c;
                }
            }

            labels[i] = (byte)best;
        }
    }
}
