using Wsss.MLNet;
using Wsss.Model;

namespace Microsoft.ML;

/// <summary>Weakly supervised semantic segmentation steps for <see cref="TransformsCatalog"/>.</summary>
public static class WeaklySupervisedSegmentationCatalog
{
    /// <summary>
    /// Trains a segmentation model from images and their image-level labels (the classes present, e.g.
    /// "cat;dog") and predicts a class for every pixel.
    /// </summary>
    /// <param name="catalog">The transforms catalog (<c>mlContext.Transforms</c>).</param>
    /// <param name="imageColumnName">Image column: file path text, or image bytes. Default "ImagePath".</param>
    /// <param name="labelsColumnName">Labels column: text with ';' ',' '|' separators, a vector of text, or keys. Default "Labels".</param>
    /// <param name="predictedMaskColumnName">Output mask column (variable vector of UInt32, row-major). Default "PredictedMask".</param>
    /// <param name="iterations">Training iterations. Default 20000.</param>
    /// <param name="backbone">Backbone network. Default MobileNetV1.</param>
    /// <param name="pretrainedWeightsPath">Pretrained backbone weights (TensorFlow.js model.json or safetensors). Default none.</param>
    /// <param name="device">Where to run. Default Auto (GPU when available).</param>
    /// <param name="seed">Random seed. Default 0.</param>
    /// <returns>The estimator; <c>Fit</c> trains.</returns>
    public static WeaklySupervisedSegmentationEstimator WeaklySupervisedSegment(
        this TransformsCatalog catalog,
        string imageColumnName = "ImagePath",
        string labelsColumnName = "Labels",
        string predictedMaskColumnName = "PredictedMask",
        int iterations = 20_000,
        BackboneKind backbone = BackboneKind.MobileNetV1,
        string? pretrainedWeightsPath = null,
        DeviceKind device = DeviceKind.Auto,
        int seed = 0) =>
        WeaklySupervisedSegment(catalog, new WeaklySupervisedSegmentationOptions
        {
            ImagePathColumnName = imageColumnName,
            LabelsColumnName = labelsColumnName,
            PredictedMaskColumnName = predictedMaskColumnName,
            Iterations = iterations,
            Backbone = backbone,
            PretrainedWeightsPath = pretrainedWeightsPath,
            Device = device,
            Seed = seed,
        });

    /// <summary>Trains a segmentation model with every setting in <paramref name="options"/> (see <see cref="WeaklySupervisedSegmentationOptions"/>).</summary>
    /// <param name="catalog">The transforms catalog (<c>mlContext.Transforms</c>).</param>
    /// <param name="options">Columns, training and prediction settings, device, cancellation and progress.</param>
    /// <returns>The estimator; <c>Fit</c> trains.</returns>
    public static WeaklySupervisedSegmentationEstimator WeaklySupervisedSegment(this TransformsCatalog catalog, WeaklySupervisedSegmentationOptions options) =>
        new(catalog, options);

    /// <summary>
    /// Mask prediction with an already trained model file (from <c>transformer.Save</c> or the core library):
    /// an inference-only step that needs no fitting.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="modelPath">The Wsss model file.</param>
    /// <param name="options">Columns, multi-scale/flip/CRF settings and device. Default: the defaults of <see cref="SegmentationPredictionOptions"/>.</param>
    /// <returns>The fitted transformer (dispose it to free the model).</returns>
    public static WeaklySupervisedSegmentationTransformer PredictSegmentationMasks(this TransformsCatalog catalog, string modelPath, SegmentationPredictionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return WeaklySupervisedSegmentationTransformer.Load(modelPath, options);
    }

    /// <summary>
    /// Decodes images once (file path or encoded bytes) into RGB pixel columns that the segmentation
    /// steps read directly: <c>{output}</c> (vector of Byte, row-major RGB), <c>{output}Height</c>, <c>{output}Width</c>.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Name of the pixel column; the size columns get the suffixes Height and Width.</param>
    /// <param name="inputColumnName">Path (text) or encoded-bytes column. Default "ImagePath".</param>
    /// <param name="imageFolder">Folder for relative paths. Default none.</param>
    /// <returns>The (trivially fitted) estimator.</returns>
    public static WeaklySupervisedImageLoadingEstimator LoadWeaklySupervisedImages(this TransformsCatalog catalog, string outputColumnName = "Image",
        string inputColumnName = "ImagePath", string? imageFolder = null) =>
        new(catalog, outputColumnName, inputColumnName, imageFolder);
}
