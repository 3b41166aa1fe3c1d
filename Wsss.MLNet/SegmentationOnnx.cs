using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms.Image;
using Microsoft.ML.Transforms.Onnx;

namespace Wsss.MLNet;

/// <summary>Settings of <see cref="SegmentationOnnxCatalog.ApplySegmentationOnnxModel"/>.</summary>
public sealed class OnnxSegmentationOptions
{
    /// <summary>The input image column: an <c>MLImage</c> column from <c>mlContext.Transforms.LoadImages</c>. Default "Image".</summary>
    public string ImageColumnName { get; set; } = "Image";

    /// <summary>
    /// Width the images are resized to: ML.NET's <c>ExtractPixels</c> and <c>ApplyOnnxModel</c> need one size for every
    /// row, so the masks have this size. Default 321 (RRM's crop size).
    /// </summary>
    public int ImageWidth { get; set; } = 321;

    /// <summary>Height the images are resized to (see <see cref="ImageWidth"/>). Default 321.</summary>
    public int ImageHeight { get; set; } = 321;

    /// <summary>How <c>ResizeImages</c> fits an image of another size. Default <c>Fill</c> (stretch, the whole image kept).</summary>
    public ImageResizingEstimator.ResizingKind Resizing { get; set; } = ImageResizingEstimator.ResizingKind.Fill;

    /// <summary>The GPU to run ONNX Runtime on (the application references Microsoft.ML.OnnxRuntime.Gpu), or null (default) for the CPU.</summary>
    public int? GpuDeviceId { get; set; }

    /// <summary>Fall back to the CPU when the GPU cannot be used. Default false (ML.NET's default).</summary>
    public bool FallbackToCpu { get; set; }

    /// <summary>ONNX Runtime's intra-op threads, or null (default) for ONNX Runtime's choice (all cores).</summary>
    public int? IntraOpNumThreads { get; set; }
}

/// <summary>
/// The self-contained ML.NET route for a model exported by <c>SegmentationModel.ExportOnnx</c>: only ML.NET's own steps,
/// so <c>mlContext.Model.Save</c> writes the ONNX model inside the zip and <c>mlContext.Model.Load</c> reads it in an
/// application that references neither Wsss nor TorchSharp (docs/MLNET.md, "Deployment routes").
/// </summary>
public static class SegmentationOnnxCatalog
{
    private const string ProbabilitiesName = "probabilities";
    private const string CamsName = "cams";
    private const string InputName = "image";

    /// <summary>
    /// ResizeImages (to <see cref="OnnxSegmentationOptions.ImageWidth"/> x <see cref="OnnxSegmentationOptions.ImageHeight"/>)
    /// -> ExtractPixels (R, G, B planes of raw 0-255 values, column "image") -> ApplyOnnxModel: the exported graph holds the
    /// input normalisation, the network, the upsampling and the softmax. Output column "probabilities" (vector of Single,
    /// (classes + 1) x height x width, background first), and "cams" when the model was exported with them. The steps
    /// also add the columns "{ImageColumnName}Resized" (the resized MLImage) and "image" (the pixel planes).
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="onnxModelPath">A file written by <c>SegmentationModel.ExportOnnx</c> with the default <c>RgbPlanes</c> input.</param>
    /// <param name="options">Column, size, device; null uses the defaults.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">ONNX Runtime cannot load the file (its message and the file name), or it is not a Wsss export.</exception>
    /// <exception cref="NotSupportedException">The model was exported for another input format.</exception>
    /// <exception cref="InvalidOperationException">ONNX Runtime's native library is missing (the application must reference Microsoft.ML.OnnxRuntime).</exception>
    public static EstimatorChain<OnnxTransformer> ApplySegmentationOnnxModel(this TransformsCatalog catalog, string onnxModelPath, OnnxSegmentationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrEmpty(onnxModelPath);
        options ??= new OnnxSegmentationOptions();
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ImageColumnName);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ImageWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ImageHeight, 1);
        string path = Path.GetFullPath(onnxModelPath);
        var (classes, cams) = Inspect(path);

        int w = options.ImageWidth, h = options.ImageHeight;
        var shapes = new Dictionary<string, int[]>
        {
            [InputName] = [1, 3, h, w],
            [ProbabilitiesName] = [1, classes + 1, h, w],
        };
        string[] outputs = cams ? [ProbabilitiesName, CamsName] : [ProbabilitiesName];
        if (cams)
        {
            shapes[CamsName] = [1, classes, h, w];
        }

        string resized = $"{options.ImageColumnName}Resized";
        return catalog.ResizeImages(resized, w, h, options.ImageColumnName, options.Resizing)
            .Append(catalog.ExtractPixels(InputName, resized, ImagePixelExtractingEstimator.ColorBits.Rgb, ImagePixelExtractingEstimator.ColorsOrder.ARGB,
                interleavePixelColors: false, offsetImage: 0, scaleImage: 1, outputAsFloatArray: true))
            .Append(catalog.ApplyOnnxModel(new OnnxOptions
            {
                ModelFile = path,
                InputColumns = [InputName],
                OutputColumns = outputs,
                ShapeDictionary = shapes,
                GpuDeviceId = options.GpuDeviceId,
                FallbackToCpu = options.FallbackToCpu,
                IntraOpNumThreads = options.IntraOpNumThreads,
            }));
    }

    /// <summary>
    /// Opens the file with ONNX Runtime (no graph optimisation: only the metadata is needed) and checks that it is a Wsss
    /// export for RGB planes; returns the foreground class count and whether it has the CAM output.
    /// </summary>
    private static (int Classes, bool Cams) Inspect(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"ONNX model not found: {path}", path);
        }

        InferenceSession session;
        try
        {
            using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
            session = new InferenceSession(path, sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"ONNX Runtime could not load '{path}': {e.Message}", e);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            throw new InvalidOperationException(
                "ONNX Runtime's native library could not be loaded: the application must reference Microsoft.ML.OnnxRuntime (CPU) or Microsoft.ML.OnnxRuntime.Gpu. " + e.Message, e);
        }

        using (session)
        {
            var meta = session.ModelMetadata.CustomMetadataMap;
            if (!meta.TryGetValue("wsss.format", out string? format) || format != "wsss-rrm-onnx"
                || !session.OutputMetadata.TryGetValue(ProbabilitiesName, out var probabilities) || probabilities.Dimensions.Length != 4 || probabilities.Dimensions[1] < 2)
            {
                throw new InvalidDataException($"'{path}' is not an ONNX model written by SegmentationModel.ExportOnnx (no wsss.format metadata or no '{ProbabilitiesName}' output).");
            }

            string inputFormat = meta.TryGetValue("wsss.input_format", out string? f) ? f : "?";
            if (inputFormat != "RgbPlanes")
            {
                throw new NotSupportedException(
                    $"'{path}' was exported for {inputFormat} input; ML.NET's ExtractPixels writes R, G, B planes of 0-255 values, so export it with OnnxInputFormat.RgbPlanes (the default).");
            }

            int batch = session.InputMetadata[InputName].Dimensions[0];
            if (batch > 1)
            {
                throw new NotSupportedException($"'{path}' has a fixed batch of {batch}; ML.NET feeds one row at a time: export it with a dynamic batch or BatchSize = 1.");
            }

            return (probabilities.Dimensions[1] - 1, session.OutputMetadata.ContainsKey(CamsName));
        }
    }
}
