using System.Text.Json;

namespace Wsss.Model;

/// <summary>
/// How 8-bit RGB pixel values become network input: x = (v * <see cref="Scale"/> - Mean[c]) / Std[c]
/// for channel c (R, G, B). Covers ImageNet mean/std normalisation (scale 1/255) and the TensorFlow /
/// Inception style v / 127.5 - 1 (scale 1/255, mean 0.5, std 0.5).
/// </summary>
public sealed class InputNormalization
{
    private readonly double[] _mean;
    private readonly double[] _std;

    /// <summary>Creates a normalisation.</summary>
    /// <param name="scale">Factor applied to the 0-255 value first (&gt; 0), usually 1/255.</param>
    /// <param name="mean">Per-channel mean (R, G, B) subtracted after scaling.</param>
    /// <param name="std">Per-channel standard deviation (R, G, B, each &gt; 0) divided by last.</param>
    /// <exception cref="ArgumentException">Not 3 channels, or a non-finite or non-positive scale or std.</exception>
    public InputNormalization(double scale, IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (!double.IsFinite(scale) || scale <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be a positive finite number");
        }

        if (mean.Count != 3 || std.Count != 3)
        {
            throw new ArgumentException($"mean and std need 3 values (R, G, B); got {mean.Count} and {std.Count}");
        }

        if (mean.Any(m => !double.IsFinite(m)) || std.Any(s => !double.IsFinite(s) || s <= 0))
        {
            throw new ArgumentException("mean must be finite and std positive and finite");
        }

        Scale = scale;
        _mean = mean.ToArray();
        _std = std.ToArray();
    }

    /// <summary>RGB / 255 with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).</summary>
    public static InputNormalization ImageNet { get; } = new(1.0 / 255.0, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);

    /// <summary>v / 127.5 - 1, mapping 0..255 to [-1, 1] (TensorFlow's MobileNet and Inception preprocessing).</summary>
    public static InputNormalization MinusOneToOne { get; } = new(1.0 / 255.0, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);

    /// <summary>Factor applied to the raw 0-255 value before the mean is subtracted.</summary>
    public double Scale { get; }

    /// <summary>Per-channel mean (R, G, B), in scaled units.</summary>
    public IReadOnlyList<double> Mean => _mean;

    /// <summary>Per-channel standard deviation (R, G, B), in scaled units.</summary>
    public IReadOnlyList<double> Std => _std;

    /// <summary>The normalised value of an 8-bit sample of channel <paramref name="channel"/> (0 = R).</summary>
    public float Normalize(byte value, int channel) => (float)((value * Scale - _mean[channel]) / _std[channel]);

    /// <summary>
    /// The same map as one multiply-add per channel, x = v * Multiplier + Offset, for fused conversion loops.
    /// </summary>
    public (float Multiplier, float Offset) GetChannelAffine(int channel) =>
        ((float)(Scale / _std[channel]), (float)(-_mean[channel] / _std[channel]));

    internal string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("scale", Scale);
            writer.WriteStartArray("mean");
            foreach (double m in _mean)
            {
                writer.WriteNumberValue(m);
            }

            writer.WriteEndArray();
            writer.WriteStartArray("std");
            foreach (double s in _std)
            {
                writer.WriteNumberValue(s);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Parses <see cref="ToJson"/>'s form; throws <see cref="FormatException"/> with the reason.</summary>
    internal static InputNormalization FromJson(string json)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("scale", out JsonElement scale) || scale.ValueKind != JsonValueKind.Number
                || !root.TryGetProperty("mean", out JsonElement mean) || mean.ValueKind != JsonValueKind.Array
                || !root.TryGetProperty("std", out JsonElement std) || std.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("expected {\"scale\": number, \"mean\": [3 numbers], \"std\": [3 numbers]}");
            }

            return new InputNormalization(scale.GetDouble(),
                mean.EnumerateArray().Select(e => e.GetDouble()).ToArray(),
                std.EnumerateArray().Select(e => e.GetDouble()).ToArray());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            throw new FormatException(e.Message, e);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => ToJson();
}
