using Wsss.Model.Serialization;

namespace Wsss.Model;

/// <summary>
/// Imports Keras networks exported in the TensorFlow.js layers format: renames the weights to this
/// library's state-dict names and converts TensorFlow's channels-last layouts.
/// </summary>
public static class TfjsImport
{
    private static readonly Dictionary<string, string> BatchNormNames = new(StringComparer.Ordinal)
    {
        ["gamma"] = "weight",
        ["beta"] = "bias",
        ["moving_mean"] = "running_mean",
        ["moving_variance"] = "running_var",
    };

    /// <summary>
    /// Builds a <see cref="MobileNetV1"/> from a Keras MobileNet v1 export (model.json and its weight
    /// shards). The width multiplier is read from the first convolution; BatchNorm epsilon 1e-3 and
    /// 'same' padding are checked.
    /// </summary>
    /// <param name="modelJsonPath">The model.json file.</param>
    /// <param name="outputStride">Output stride of the built network: 8 (default, for segmentation) or 32 (the original).</param>
    /// <param name="frozenBatchNorm">Freeze BatchNorm (default true).</param>
    /// <param name="includeClassifier">Also import the "conv_preds" ImageNet classifier for <see cref="MobileNetV1.Classify"/>.</param>
    /// <exception cref="FileFormatException">The file is not a readable TensorFlow.js layers model.</exception>
    /// <exception cref="InvalidDataException">The model is not a Keras MobileNet v1 (the message says what differs).</exception>
    public static MobileNetV1 LoadMobileNetV1(string modelJsonPath, int outputStride = 8, bool frozenBatchNorm = true, bool includeClassifier = false)
    {
        var model = TfjsLayersModel.Load(modelJsonPath);
        try
        {
            var byName = model.Layers.ToDictionary(l => l.Name, StringComparer.Ordinal);
            if (!byName.TryGetValue("conv1", out var conv1) || conv1.Filters is not int stemFilters)
            {
                throw new InvalidDataException("no Conv2D layer 'conv1' with filters: not a Keras MobileNet v1.");
            }

            foreach (var layer in model.Layers)
            {
                if (layer.ClassName is "Conv2D" or "DepthwiseConv2D" && layer.Padding != "same")
                {
                    throw new InvalidDataException($"layer '{layer.Name}' has padding '{layer.Padding}', expected 'same'.");
                }

                if (layer.ClassName == "BatchNormalization" && layer.Epsilon is double eps && Math.Abs(eps - 1e-3) > 1e-9)
                {
                    throw new InvalidDataException($"layer '{layer.Name}' has epsilon {eps}, expected 0.001.");
                }
            }

            int classes = 0;
            if (includeClassifier)
            {
                classes = byName.TryGetValue("conv_preds", out var preds) && preds.Filters is int f
                    ? f
                    : throw new InvalidDataException("no classifier layer 'conv_preds'.");
            }

            var network = new MobileNetV1(stemFilters / 32.0, outputStride, frozenBatchNorm, classes);
            try
            {
                network.LoadWeights(KerasWeights(model));
                return network;
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{modelJsonPath}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The weights of a Keras model by state-dict name ("conv1/kernel" -> "conv1.weight",
    /// "conv1_bn/moving_variance" -> "conv1_bn.running_var", ...), in PyTorch layouts: Conv2D kernels
    /// [kh, kw, in, out] -> [out, in, kh, kw]; DepthwiseConv2D kernels [kh, kw, in, m] -> [in*m, 1, kh, kw]
    /// (output channel i*m + j, TensorFlow's order); Dense kernels [in, out] -> [out, in].
    /// </summary>
    /// <exception cref="InvalidDataException">A weight name or shape that has no PyTorch counterpart.</exception>
    public static Dictionary<string, (float[] Data, long[] Shape)> KerasWeights(TfjsLayersModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal);
        foreach (var w in model.Weights)
        {
            int slash = w.Name.LastIndexOf('/');
            if (slash <= 0)
            {
                throw new InvalidDataException($"weight '{w.Name}' is not named layer/variable.");
            }

            string layer = w.Name[..slash];
            string variable = w.Name[(slash + 1)..];
            int colon = variable.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                variable = variable[..colon];
            }

            string prefix = layer.Replace('/', '.');
            (string Name, (float[], long[]) Value) converted = variable switch
            {
                "kernel" when w.Shape.Length == 4 => ($"{prefix}.weight", ConvKernel(w.AsFloatArray(), w.Shape)),
                "kernel" when w.Shape.Length == 2 => ($"{prefix}.weight", DenseKernel(w.AsFloatArray(), w.Shape)),
                "depthwise_kernel" when w.Shape.Length == 4 => ($"{prefix}.weight", DepthwiseKernel(w.AsFloatArray(), w.Shape)),
                "bias" => ($"{prefix}.bias", (w.AsFloatArray(), w.Shape)),
                _ when BatchNormNames.TryGetValue(variable, out string? name) => ($"{prefix}.{name}", (w.AsFloatArray(), w.Shape)),
                _ => throw new InvalidDataException($"weight '{w.Name}' with shape [{string.Join(", ", w.Shape)}] has no PyTorch counterpart."),
            };
            result.Add(converted.Name, converted.Value);
        }

        return result;
    }

    /// <summary>[kh, kw, in, out] -> [out, in, kh, kw].</summary>
    internal static (float[] Data, long[] Shape) ConvKernel(float[] source, long[] shape)
    {
        long kh = shape[0], kw = shape[1], cin = shape[2], cout = shape[3];
        var target = new float[source.Length];
        for (long y = 0; y < kh; y++)
        {
            for (long x = 0; x < kw; x++)
            {
                for (long i = 0; i < cin; i++)
                {
                    long from = ((((y * kw) + x) * cin) + i) * cout;
                    for (long o = 0; o < cout; o++)
                    {
                        target[((((o * cin) + i) * kh) + y) * kw + x] = source[from + o];
                    }
                }
            }
        }

        return (target, [cout, cin, kh, kw]);
    }

    /// <summary>[kh, kw, in, m] -> [in*m, 1, kh, kw].</summary>
    internal static (float[] Data, long[] Shape) DepthwiseKernel(float[] source, long[] shape)
    {
        long kh = shape[0], kw = shape[1], cin = shape[2], mult = shape[3];
        var target = new float[source.Length];
        for (long y = 0; y < kh; y++)
        {
            for (long x = 0; x < kw; x++)
            {
                for (long i = 0; i < cin; i++)
                {
                    for (long m = 0; m < mult; m++)
                    {
                        target[((((i * mult) + m) * kh) + y) * kw + x] = source[((((y * kw) + x) * cin) + i) * mult + m];
                    }
                }
            }
        }

        return (target, [cin * mult, 1, kh, kw]);
    }

    /// <summary>[in, out] -> [out, in].</summary>
    private static (float[] Data, long[] Shape) DenseKernel(float[] source, long[] shape)
    {
        long cin = shape[0], cout = shape[1];
        var target = new float[source.Length];
        for (long i = 0; i < cin; i++)
        {
            for (long o = 0; o < cout; o++)
            {
                target[(o * cin) + i] = source[(i * cout) + o];
            }
        }

        return (target, [cout, cin]);
    }
}
