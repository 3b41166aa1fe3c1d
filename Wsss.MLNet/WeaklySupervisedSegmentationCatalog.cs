using Microsoft.ML.Transforms;
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
    /// <param name="imageColumnName">Image column: file path text, an MLImage (LoadImages), or image bytes. Default "ImagePath".</param>
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
    /// an inference-only step; <c>Fit</c> loads the model (nothing is learned), so it composes with <c>Append</c>.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="modelPath">The Wsss model file.</param>
    /// <param name="options">Columns, multi-scale/flip/CRF settings, probabilities and device. Default: the defaults of <see cref="SegmentationPredictionOptions"/>.</param>
    /// <returns>The estimator; its <c>Fit</c> returns a <see cref="WeaklySupervisedSegmentationTransformer"/> that owns its model (dispose it).</returns>
    /// <exception cref="FileNotFoundException">The model file does not exist.</exception>
    /// <exception cref="ArgumentException">The prediction scales are empty, or not positive and finite.</exception>
    public static SegmentationPredictionEstimator PredictSegmentationMasks(this TransformsCatalog catalog, string modelPath, SegmentationPredictionOptions? options = null) =>
        new(catalog, modelPath, options ?? new SegmentationPredictionOptions());

    /// <summary>
    /// Mask prediction that <c>mlContext.Model.Save</c> can write: an ML.NET <c>CustomMapping</c> step whose zip
    /// stores the contract <see cref="SegmentationMappingFactory.ContractName"/>. Registers <paramref name="modelPath"/>
    /// (see <see cref="SegmentationMappingFactory.Register(string, Wsss.Inference.PredictionOptions?, DeviceKind, MLContext?)"/>);
    /// where the zip is loaded, register the model file again or set <see cref="SegmentationMappingFactory.ModelPathVariable"/>.
    /// </summary>
    /// <remarks>
    /// Fixed columns: input <c>ImagePath</c> (Text); outputs <c>PredictedMask</c> (variable vector of UInt32),
    /// <c>MaskHeight</c>, <c>MaskWidth</c> (Int32). One model per process. See <see cref="SegmentationMappingFactory"/> for every limit.
    /// </remarks>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="modelPath">The Wsss model file (not copied into the zip: ship it beside it).</param>
    /// <param name="options">Scales, flip and CRF. Default: single scale, no CRF.</param>
    /// <param name="device">Where the model runs. Default Auto (a CUDA GPU when available, else the CPU).</param>
    /// <param name="context">Optional context for <see cref="MLContext.GpuDeviceId"/> and <see cref="MLContext.FallbackToCpu"/>.</param>
    /// <returns>A custom-mapping estimator (trivial to fit).</returns>
    public static CustomMappingEstimator<SegmentationMappingInput, SegmentationMappingOutput> PredictSegmentationMasksWithCustomMapping(
        this TransformsCatalog catalog, string modelPath, Wsss.Inference.PredictionOptions? options = null, DeviceKind device = DeviceKind.Auto, MLContext? context = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        SegmentationMappingFactory.Register(modelPath, options, device, context);
        return catalog.CustomMapping(new SegmentationMappingFactory().GetMapping(), SegmentationMappingFactory.ContractName);
    }

    /// <summary>
    /// The seed-generation stage with a trained model: for each row's image and image-level labels, the class
    /// activation maps, RRM's reliable seeds (255 = unreliable) and the two-step variant's pseudo mask, all lazy.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="model">A fitted segmentation step (its model is used, not copied; keep it alive while the seeds are read).</param>
    /// <param name="imageColumnName">Image column: file path text, an MLImage (LoadImages), image bytes, or decoded pixels. Default "ImagePath".</param>
    /// <param name="labelsColumnName">Labels column: text with ';' ',' '|' separators, a vector of text, or keys, naming classes of the model. Default "Labels".</param>
    /// <returns>The (trivially fitted) estimator; output columns ClassActivationMaps, ReliableSeeds, PseudoMask, MaskHeight, MaskWidth.</returns>
    public static ReliableSeedsEstimator ComputeReliableSeeds(this TransformsCatalog catalog, WeaklySupervisedSegmentationTransformer model,
        string imageColumnName = "ImagePath", string labelsColumnName = "Labels") =>
        ComputeReliableSeeds(catalog, model, new ReliableSeedsTransformOptions { ImageColumnName = imageColumnName, LabelsColumnName = labelsColumnName });

    /// <summary>The seed-generation stage with a fitted segmentation step and every setting in <paramref name="options"/>.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="model">A fitted segmentation step (its model is used, not copied; keep it alive while the seeds are read).</param>
    /// <param name="options">Columns, CAM scales, seed pruning and pseudo-mask settings.</param>
    /// <returns>The (trivially fitted) estimator.</returns>
    public static ReliableSeedsEstimator ComputeReliableSeeds(this TransformsCatalog catalog, WeaklySupervisedSegmentationTransformer model, ReliableSeedsTransformOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new(catalog, model.Model, null, options);
    }

    /// <summary>The seed-generation stage with a core model (used, not copied: the caller keeps it alive and disposes it).</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="model">The trained model.</param>
    /// <param name="options">Columns, CAM scales, seed pruning and pseudo-mask settings. Default: the defaults of <see cref="ReliableSeedsTransformOptions"/>.</param>
    /// <returns>The (trivially fitted) estimator.</returns>
    public static ReliableSeedsEstimator ComputeReliableSeeds(this TransformsCatalog catalog, Wsss.Inference.SegmentationModel model, ReliableSeedsTransformOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new(catalog, model, null, options ?? new ReliableSeedsTransformOptions());
    }

    /// <summary>The seed-generation stage with a model file, loaded by <c>Fit</c> on the options' device (the transformer owns it: dispose it).</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="modelPath">The Wsss model file.</param>
    /// <param name="options">Columns, CAM scales, seed pruning, pseudo-mask settings and device. Default: the defaults of <see cref="ReliableSeedsTransformOptions"/>.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="FileNotFoundException">The model file does not exist.</exception>
    public static ReliableSeedsEstimator ComputeReliableSeeds(this TransformsCatalog catalog, string modelPath, ReliableSeedsTransformOptions? options = null) =>
        new(catalog, null, modelPath, options ?? new ReliableSeedsTransformOptions());

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
