namespace Wsss.Model;

/// <summary>
/// Builds a backbone with pretrained weights from whichever file the user has, by its extension:
/// <list type="bullet">
/// <item>.json: a TensorFlow.js layers model (MobileNetV1, <see cref="TfjsImport"/>);</item>
/// <item>.onnx: ML.NET's ResNet-18 featurizer (ResNet18, <see cref="OnnxWeights"/>);</item>
/// <item>.pth, .pt, .bin: a torchvision <c>state_dict</c> (ResNet18/50/101, <see cref="TorchvisionWeights"/>);</item>
/// <item>.safetensors: tensors under the backbone's own parameter names (any backbone; torchvision's names for the ResNets).</item>
/// </list>
/// Without a file, ResNet18 takes ML.NET's ONNX weights when the package is found (<see cref="OnnxWeights.FindResNet18"/>).
/// </summary>
public static class PretrainedBackbone
{
    /// <summary>
    /// The backbone of <paramref name="kind"/> at output stride 8 with the weights of <paramref name="path"/>. With a
    /// null path: ResNet18 takes ML.NET's packaged ONNX weights when <paramref name="usePackagedWeights"/> (and fails
    /// when they are not found), every other case gets random weights.
    /// </summary>
    /// <param name="kind">Architecture.</param>
    /// <param name="path">Weight file, or null.</param>
    /// <param name="width">MobileNetV1 width multiplier; it must match the file's (others: 1).</param>
    /// <param name="frozenBatchNorm">Freeze BatchNorm; null takes the architecture's default.</param>
    /// <param name="usePackagedWeights">With a null path, look for packaged weights (ResNet18). Default true.</param>
    /// <exception cref="ArgumentException">The file's kind does not fit <paramref name="kind"/>, or the width differs.</exception>
    /// <exception cref="FileNotFoundException">ResNet18 without a path, and the package's file was not found.</exception>
    /// <exception cref="InvalidDataException">The file is not the expected network (the message names the file and the first
    /// missing or mis-shaped tensor).</exception>
    /// <exception cref="Serialization.FileFormatException">The file cannot be read.</exception>
    public static Backbone Load(BackboneKind kind, string? path, double width = 1.0, bool? frozenBatchNorm = null, bool usePackagedWeights = true)
    {
        bool frozen = frozenBatchNorm ?? kind != BackboneKind.SmallCnn;
        if (path is null)
        {
            return kind == BackboneKind.ResNet18 && usePackagedWeights
                ? OnnxWeights.LoadResNet18(null, frozenBatchNorm: frozen)
                : Backbones.Create(kind, width, frozenBatchNorm);
        }

        string extension = Path.GetExtension(path).ToLowerInvariant();
        switch (extension)
        {
            case ".json":
                Require(kind, [BackboneKind.MobileNetV1], path, "a TensorFlow.js model.json");
                var mobileNet = TfjsImport.LoadMobileNetV1(path, frozenBatchNorm: frozen);
                if (Math.Abs(mobileNet.Alpha - width) > 1e-9)
                {
                    double alpha = mobileNet.Alpha;
                    mobileNet.Dispose();
                    throw new ArgumentException($"The MobileNetV1 weights in '{path}' have width {alpha}, but the width asked for is {width}.");
                }

                return mobileNet;
            case ".onnx":
                Require(kind, [BackboneKind.ResNet18], path, "an ONNX file (ML.NET's ResNet-18 featurizer)");
                return OnnxWeights.LoadResNet18(path, frozenBatchNorm: frozen);
            case ".pth" or ".pt" or ".bin":
                Require(kind, TorchvisionWeights.SupportedKinds, path, "a torchvision state_dict");
                return TorchvisionWeights.Load(kind, path, frozenBatchNorm: frozen);
            default:
                var backbone = TorchvisionWeights.SupportedKinds.Contains(kind)
                    ? TorchvisionWeights.Create(kind, frozenBatchNorm: frozen)
                    : Backbones.Create(kind, width, frozenBatchNorm);
                try
                {
                    // Any other extension: safetensors, as before there were other formats.
                    backbone.LoadWeights(ModelWeights.FromTensors(Serialization.SafetensorsFile.Read(path).Tensors));
                    return backbone;
                }
                catch (InvalidDataException e)
                {
                    backbone.Dispose();
                    throw new InvalidDataException($"{path}: {e.Message}", e);
                }
                catch
                {
                    backbone.Dispose();
                    throw;
                }
        }
    }

    private static void Require(BackboneKind kind, IReadOnlyList<BackboneKind> allowed, string path, string what)
    {
        if (!allowed.Contains(kind))
        {
            throw new ArgumentException($"'{path}' is {what}, which holds {string.Join(" or ", allowed)} weights, but the backbone is {kind}.");
        }
    }
}
