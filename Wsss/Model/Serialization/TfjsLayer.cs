using System.Text.Json;

namespace Wsss.Model.Serialization;

/// <summary>
/// One Keras layer from a TensorFlow.js layers-format topology: its class, name and configuration,
/// with typed accessors for the settings needed to rebuild common convolutional networks.
/// </summary>
public sealed class TfjsLayer
{
    internal TfjsLayer(string className, string name, JsonElement config, IReadOnlyList<string> inboundLayers)
    {
        ClassName = className;
        Name = name;
        Config = config;
        InboundLayers = inboundLayers;
    }

    /// <summary>Keras class name, for example "Conv2D", "DepthwiseConv2D", "BatchNormalization", "Activation".</summary>
    public string ClassName { get; }

    /// <summary>Layer name; its weights are named "Name/kernel", "Name/gamma", ...</summary>
    public string Name { get; }

    /// <summary>The layer's whole "config" object (detached from the file; an empty object when absent).</summary>
    public JsonElement Config { get; }

    /// <summary>Names of the layers feeding this one (functional models; empty for sequential models and inputs).</summary>
    public IReadOnlyList<string> InboundLayers { get; }

    /// <summary>"strides" (rows, columns), or null when absent.</summary>
    public int[]? Strides => GetIntArray("strides");

    /// <summary>"kernel_size" (rows, columns), or null when absent.</summary>
    public int[]? KernelSize => GetIntArray("kernel_size");

    /// <summary>"dilation_rate" (rows, columns), or null when absent.</summary>
    public int[]? DilationRate => GetIntArray("dilation_rate");

    /// <summary>"padding" ("same" or "valid"), or null when absent.</summary>
    public string? Padding => GetString("padding");

    /// <summary>"activation" ("linear", "relu", "relu6", "softmax", ...), or null when absent.</summary>
    public string? Activation => GetString("activation");

    /// <summary>"filters" (output channels of a convolution), or null when absent.</summary>
    public int? Filters => GetInt("filters");

    /// <summary>"depth_multiplier" of a depthwise convolution, or null when absent.</summary>
    public int? DepthMultiplier => GetInt("depth_multiplier");

    /// <summary>"use_bias", or null when absent.</summary>
    public bool? UseBias => GetBool("use_bias");

    /// <summary>"epsilon" of a normalisation layer, or null when absent.</summary>
    public double? Epsilon => GetDouble("epsilon");

    /// <summary>"alpha" (for example the slope of LeakyReLU), or null when absent.</summary>
    public double? Alpha => GetDouble("alpha");

    /// <summary>"rate" of a dropout layer, or null when absent.</summary>
    public double? Rate => GetDouble("rate");

    /// <summary>"max_value" of a ReLU layer, or null when absent or null.</summary>
    public double? MaxValue => GetDouble("max_value");

    /// <summary>"target_shape" of a Reshape layer (null entries read as -1), or null when absent.</summary>
    public int[]? TargetShape => GetIntArray("target_shape");

    /// <summary>A string setting, or null when absent or not a string.</summary>
    public string? GetString(string key) =>
        Config.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>An integer setting, or null when absent or null.</summary>
    /// <exception cref="FormatException">The value is present but not an integer.</exception>
    public int? GetInt(string key)
    {
        if (!Config.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)
            ? i
            : throw new FormatException($"layer '{Name}': \"{key}\" should be an integer, found {v.GetRawText()}");
    }

    /// <summary>A numeric setting, or null when absent or null.</summary>
    /// <exception cref="FormatException">The value is present but not a number.</exception>
    public double? GetDouble(string key)
    {
        if (!Config.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number
            ? v.GetDouble()
            : throw new FormatException($"layer '{Name}': \"{key}\" should be a number, found {v.GetRawText()}");
    }

    /// <summary>A boolean setting, or null when absent or null.</summary>
    /// <exception cref="FormatException">The value is present but not a boolean.</exception>
    public bool? GetBool(string key)
    {
        if (!Config.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FormatException($"layer '{Name}': \"{key}\" should be true or false, found {v.GetRawText()}"),
        };
    }

    /// <summary>
    /// An integer-array setting (a single integer reads as a one-element array; null entries as -1),
    /// or null when absent or null.
    /// </summary>
    /// <exception cref="FormatException">The value is present but not integers.</exception>
    public int[]? GetIntArray(string key)
    {
        if (!Config.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number)
        {
            return [GetInt(key)!.Value];
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"layer '{Name}': \"{key}\" should be an array of integers, found {v.GetRawText()}");
        }

        var result = new int[v.GetArrayLength()];
        int n = 0;
        foreach (JsonElement item in v.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.Null)
            {
                result[n++] = -1;
            }
            else if (item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out int i))
            {
                result[n++] = i;
            }
            else
            {
                throw new FormatException($"layer '{Name}': \"{key}\" should be an array of integers, found {v.GetRawText()}");
            }
        }

        return result;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{ClassName} '{Name}'";
}
