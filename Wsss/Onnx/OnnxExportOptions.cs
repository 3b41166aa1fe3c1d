namespace Wsss.Onnx;

/// <summary>What the input of an exported ONNX model holds (input "image", float, NCHW).</summary>
public enum OnnxInputFormat
{
    /// <summary>
    /// (N, 3, H, W) R, G, B planes of raw 0-255 values, as ML.NET's <c>ExtractPixels</c> writes them by default
    /// (colors Rgb, no interleave, no offset or scale); the model's input normalisation is inside the graph.
    /// </summary>
    RgbPlanes,

    /// <summary>
    /// (N, 4, H, W) B, G, R, A planes of raw 0-255 values (the channel order of <c>MLImage</c>'s BGRA pixels, split into
    /// planes); alpha is ignored and the normalisation is inside the graph.
    /// </summary>
    BgraPlanes,

    /// <summary>(N, 3, H, W) R, G, B planes already normalised as the model's <c>InputNormalization</c> says; nothing is added to the graph.</summary>
    Normalized,
}

/// <summary>How <see cref="Inference.SegmentationModel.ExportOnnx"/> writes the segmentation branch as an ONNX model.</summary>
public sealed class OnnxExportOptions
{
    /// <summary>The graph's input name.</summary>
    public const string InputName = "image";

    /// <summary>The output of class probabilities: (N, C + 1, H, W), background first, softmax over the classes.</summary>
    public const string ProbabilitiesName = "probabilities";

    /// <summary>The optional output of class activation maps: (N, C, H, W) in [0, 1] (see <see cref="IncludeClassActivationMaps"/>).</summary>
    public const string ClassActivationMapsName = "cams";

    /// <summary>The lowest opset written (Resize's pytorch_half_pixel, Shape's start/end and Softmax over one axis need opset 15 or later).</summary>
    public const int MinimumOpset = 17;

    /// <summary>The highest opset written (ONNX Runtime 1.31 runs every opset up to it).</summary>
    public const int MaximumOpset = 21;

    /// <summary>What the input holds. Default <see cref="OnnxInputFormat.RgbPlanes"/> (raw 0-255 RGB planes, normalised inside the graph).</summary>
    public OnnxInputFormat InputFormat { get; init; } = OnnxInputFormat.RgbPlanes;

    /// <summary>
    /// Also output "cams": the classification branch's class activation maps, upsampled bilinearly to the input size and
    /// divided per image and class by their maximum + 1e-5, the same values as
    /// <see cref="Inference.SegmentationModel.ClassActivationMaps"/> for all classes at scale 1 only (no extra scales).
    /// Default false.
    /// </summary>
    public bool IncludeClassActivationMaps { get; init; }

    /// <summary>The ONNX opset, <see cref="MinimumOpset"/> to <see cref="MaximumOpset"/>. Default 17.</summary>
    public int Opset { get; init; } = MinimumOpset;

    /// <summary>
    /// A fixed batch size, or null (default) for a dynamic batch dimension named "batch". Height and width are always
    /// dynamic ("height", "width"): the graph computes TensorFlow 'same' padding and the upsampling size from the input.
    /// </summary>
    public int? BatchSize { get; init; }

    /// <summary>Dynamic batch, RGB planes 0-255 with the normalisation inside, probabilities only, opset 17.</summary>
    public static OnnxExportOptions Default { get; } = new();

    internal void Validate()
    {
        if (!Enum.IsDefined(InputFormat))
        {
            throw new ArgumentException($"OnnxExportOptions.InputFormat: unknown format {InputFormat}.");
        }

        if (Opset is < MinimumOpset or > MaximumOpset)
        {
            throw new ArgumentException($"OnnxExportOptions.Opset must be {MinimumOpset} to {MaximumOpset}, got {Opset}.");
        }

        if (BatchSize is < 1)
        {
            throw new ArgumentException($"OnnxExportOptions.BatchSize must be positive (or null for a dynamic batch), got {BatchSize}.");
        }
    }
}
