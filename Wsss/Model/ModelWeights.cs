using TorchSharp;
using Wsss.Model.Serialization;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// Moves weights between modules and plain name -> (values, shape) maps, the library-neutral form that
/// converted pretrained weights and safetensors files come in.
/// </summary>
public static class ModelWeights
{
    // Older PyTorch checkpoints and converted MXNet/Keras weights have no batch counter; it only matters
    // for BatchNorm with momentum=None, which no backbone here uses.
    private const string OptionalSuffix = "num_batches_tracked";

    /// <summary>
    /// Copies every parameter and buffer of <paramref name="module"/> from <paramref name="weights"/> (by
    /// state-dict name). Either everything is copied or, on error, nothing is.
    /// </summary>
    /// <returns>The names in <paramref name="weights"/> that <paramref name="module"/> does not have, sorted.</returns>
    /// <exception cref="InvalidDataException">
    /// A tensor of the module is missing from <paramref name="weights"/>, or its shape or value count differs;
    /// the message names the first five such tensors in state-dict order and counts the rest.
    /// </exception>
    public static IReadOnlyList<string> Load(nn.Module module, IReadOnlyDictionary<string, (float[] Data, long[] Shape)> weights)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(weights);
        var own = module.state_dict();
        var problems = new List<string>();
        foreach (var (name, target) in own)
        {
            if (!weights.TryGetValue(name, out var source))
            {
                if (!name.EndsWith(OptionalSuffix, StringComparison.Ordinal))
                {
                    problems.Add($"'{name}' is missing (expected shape {FormatShape(target.shape)})");
                }

                continue;
            }

            if (!source.Shape.AsSpan().SequenceEqual(target.shape))
            {
                problems.Add($"'{name}' has shape {FormatShape(source.Shape)} but {FormatShape(target.shape)} is expected");
            }
            else if (source.Data.LongLength != target.numel())
            {
                problems.Add($"'{name}' has {source.Data.LongLength} values for shape {FormatShape(source.Shape)}");
            }
        }

        if (problems.Count > 0)
        {
            // In state-dict order, so the first is the first tensor that differs; another architecture's file would
            // otherwise list hundreds.
            const int Listed = 5;
            string more = problems.Count > Listed ? $"; and {problems.Count - Listed} more" : string.Empty;
            throw new InvalidDataException($"The weights do not fit {module.GetType().Name}: {string.Join("; ", problems.Take(Listed))}{more}.");
        }

        using (no_grad())
        {
            foreach (var (name, target) in own)
            {
                if (weights.TryGetValue(name, out var source))
                {
                    // tensor() copies the array; copy_ converts to the target's dtype (integer counters) and device.
                    using var value = tensor(source.Data, source.Shape);
                    target.copy_(value);
                }
            }
        }

        return weights.Keys.Where(k => !own.ContainsKey(k)).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>
    /// The parameters and buffers of <paramref name="module"/> as float copies by state-dict name (integer
    /// buffers such as batch counters are converted), the inverse of <see cref="Load"/>.
    /// </summary>
    public static Dictionary<string, (float[] Data, long[] Shape)> Export(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var result = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal);
        foreach (var (name, t) in module.state_dict())
        {
            using var cpu = t.detach().to(ScalarType.Float32, CPU).contiguous();
            result.Add(name, (cpu.ToArrayFast<float>(), t.shape));
        }

        return result;
    }

    /// <summary>
    /// The float values of stored tensors by name (F16/BF16/F64 widened or narrowed, integers converted), for
    /// <see cref="Load"/>. Boolean tensors are not weights and are rejected.
    /// </summary>
    /// <exception cref="InvalidDataException">A tensor has a dtype that cannot hold weights; the message names it.</exception>
    public static Dictionary<string, (float[] Data, long[] Shape)> FromTensors(IEnumerable<TensorData> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var result = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            float[] values = t.DType switch
            {
                TensorDType.F32 or TensorDType.F16 or TensorDType.BF16 => t.AsFloatArray(),
                TensorDType.F64 => Array.ConvertAll(t.AsDoubleArray(), v => (float)v),
                TensorDType.I64 => Array.ConvertAll(t.AsInt64Array(), v => (float)v),
                TensorDType.I32 => Array.ConvertAll(t.AsInt32Array(), v => (float)v),
                _ => throw new InvalidDataException($"'{t.Name}' holds {t.DType.SafetensorsName()}, which is not a weight type."),
            };
            result.Add(t.Name, (values, t.Shape));
        }

        return result;
    }

    /// <summary>
    /// Loads a safetensors file of weights (state-dict names) into <paramref name="module"/>.
    /// </summary>
    /// <returns>The tensor names in the file that the module does not have.</returns>
    /// <exception cref="InvalidDataException">A tensor is missing or mis-shaped (named, with the file).</exception>
    /// <exception cref="FileFormatException">The file is not valid safetensors.</exception>
    public static IReadOnlyList<string> LoadSafetensors(nn.Module module, string path)
    {
        var content = SafetensorsFile.Read(path);
        try
        {
            return Load(module, FromTensors(content.Tensors));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private static string FormatShape(ReadOnlySpan<long> shape) => $"({string.Join(", ", shape.ToArray())})";
}
