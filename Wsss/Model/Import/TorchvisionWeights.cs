using System.Collections;
using TorchSharp.PyBridge;
using Wsss.Engine;
using Wsss.Model.Serialization;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// Imports torchvision checkpoints: a <c>state_dict</c> saved by PyTorch's <c>torch.save</c> (.pth / .pt, the zip
/// format of PyTorch 1.6 and later, read through TorchSharp.PyBridge) or a safetensors file with the same names,
/// loaded into <see cref="ResNet18"/>, <see cref="ResNet50"/> or <see cref="ResNet101"/>, whose parameter names are
/// torchvision's. The ImageNet classifier ("fc.weight", "fc.bias") is not used. Input normalisation: ImageNet mean /
/// std, torchvision's.
/// </summary>
public static class TorchvisionWeights
{
    /// <summary>The torchvision ResNets this import builds.</summary>
    public static IReadOnlyList<BackboneKind> SupportedKinds { get; } = [BackboneKind.ResNet18, BackboneKind.ResNet50, BackboneKind.ResNet101];

    /// <summary>A new torchvision-layout ResNet of <paramref name="kind"/> with random weights.</summary>
    /// <exception cref="ArgumentException">The kind is not a torchvision ResNet.</exception>
    public static ResNet Create(BackboneKind kind, int outputStride = 8, bool frozenBatchNorm = true) => kind switch
    {
        BackboneKind.ResNet18 => new ResNet18(frozenBatchNorm, outputStride),
        BackboneKind.ResNet50 => new ResNet50(frozenBatchNorm, outputStride),
        BackboneKind.ResNet101 => new ResNet101(frozenBatchNorm, outputStride),
        _ => throw new ArgumentException($"{kind} is not a torchvision ResNet; use one of {string.Join(", ", SupportedKinds)}.", nameof(kind)),
    };

    /// <summary>
    /// Builds a ResNet of <paramref name="kind"/> from a torchvision <c>state_dict</c> file (.pth / .pt / .bin through
    /// TorchSharp.PyBridge, or .safetensors).
    /// </summary>
    /// <param name="kind">ResNet18, ResNet50 or ResNet101.</param>
    /// <param name="path">The checkpoint.</param>
    /// <param name="outputStride">8 (default, for segmentation), 16, or 32 (the checkpoint's own network).</param>
    /// <param name="frozenBatchNorm">Freeze BatchNorm (default true).</param>
    /// <exception cref="FileFormatException">The file cannot be read as a state dict.</exception>
    /// <exception cref="InvalidDataException">The file is not this network: the message names the file and the first
    /// missing or mis-shaped tensor.</exception>
    public static ResNet Load(BackboneKind kind, string path, int outputStride = 8, bool frozenBatchNorm = true)
    {
        var weights = Read(path);
        var network = Create(kind, outputStride, frozenBatchNorm);
        try
        {
            network.LoadWeights(weights);
            return network;
        }
        catch (InvalidDataException e)
        {
            network.Dispose();
            throw new InvalidDataException($"{path}: not a torchvision {kind} state_dict: {e.Message}", e);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The tensors of a state-dict file by name, as floats: .safetensors through this library's reader, anything else
    /// as a PyTorch zip checkpoint through TorchSharp.PyBridge. A checkpoint that wraps the state dict
    /// (<c>{"state_dict": ...}</c> or <c>{"model": ...}</c>) is unwrapped, and nn.DataParallel's "module." prefix is
    /// removed.
    /// </summary>
    /// <exception cref="FileFormatException">The file is missing or not a readable state dict.</exception>
    public static Dictionary<string, (float[] Data, long[] Shape)> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileFormatException(path, null, "the file does not exist.");
        }

        Dictionary<string, (float[] Data, long[] Shape)> weights = path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
            ? ModelWeights.FromTensors(SafetensorsFile.Read(path).Tensors)
            : ReadPickled(path);
        if (weights.Count > 0 && weights.Keys.All(k => k.StartsWith("module.", StringComparison.Ordinal)))
        {
            weights = weights.ToDictionary(kv => kv.Key["module.".Length..], kv => kv.Value, StringComparer.Ordinal);
        }

        return weights;
    }

    private static Dictionary<string, (float[] Data, long[] Shape)> ReadPickled(string path)
    {
        TorchEngine.EnsureLoaded();
        Hashtable table;
        try
        {
            table = PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // PyBridge reports a legacy (pre-1.6, non-zip) file as NotImplementedException, a damaged zip as
            // InvalidDataException, an unknown pickled class as a pickle exception: one message for all, with the cause.
            throw new FileFormatException(path, null, $"not a PyTorch state_dict file ({e.GetType().Name}: {e.Message}).", e);
        }

        try
        {
            foreach (string wrapper in new[] { "state_dict", "model" })
            {
                if (table[wrapper] is Hashtable inner && !table.Values.OfType<Tensor>().Any())
                {
                    table = inner;
                    break;
                }
            }

            var result = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal);
            foreach (DictionaryEntry entry in table)
            {
                if (entry.Key is not string name || entry.Value is not Tensor t)
                {
                    continue;
                }

                if (t.dtype == ScalarType.Bool)
                {
                    throw new FileFormatException(path, "tensor", name, "holds booleans, which are not weights.");
                }

                using var floats = t.to(ScalarType.Float32).contiguous();
                result[name] = (floats.ToArrayFast<float>(), t.shape);
            }

            if (result.Count == 0)
            {
                throw new FileFormatException(path, null, "the file holds no tensors (a whole pickled model instead of its state_dict?).");
            }

            return result;
        }
        finally
        {
            foreach (var t in table.Values.OfType<Tensor>())
            {
                t.Dispose();
            }
        }
    }
}
