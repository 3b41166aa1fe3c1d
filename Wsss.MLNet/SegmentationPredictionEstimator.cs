using Microsoft.ML;
using Microsoft.ML.Data;
using Wsss.MLNet.Internal;

namespace Wsss.MLNet;

/// <summary>
/// Mask prediction with an already trained model file, as a pipeline step: <c>Fit</c> loads the model on the
/// options' device and returns a <see cref="WeaklySupervisedSegmentationTransformer"/> (nothing is learned).
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// ### Estimator Characteristics
/// |  |  |
/// | -- | -- |
/// | Does this estimator need to look at the data to train its parameters? | No (it loads a trained model file) |
/// | Input column data type | Text (file path), Image (MLImage), or vector of Byte (encoded image, or decoded RGB pixels with {name}Height/{name}Width) |
/// | Output column data type | PredictedMask: variable vector of UInt32; MaskHeight, MaskWidth: Int32; ClassProbabilities (optional): variable vector of Single |
/// | Exportable to ONNX | No |
/// | Saved by mlContext.Model.Save | No: see <c>PredictSegmentationMasksWithCustomMapping</c> for a step that is |
///
/// Multi-scale and flip averaging (<see cref="SegmentationPredictionOptions.PredictionScales"/>,
/// <see cref="SegmentationPredictionOptions.PredictionFlip"/>) and the dense CRF
/// (<see cref="SegmentationPredictionOptions.PredictionUseCrf"/>, <see cref="SegmentationPredictionOptions.PredictionCrf"/>)
/// come from the options. Each <c>Fit</c> loads the file again and returns a transformer that owns its model.
/// ]]></format>
/// </remarks>
public sealed class SegmentationPredictionEstimator : IEstimator<WeaklySupervisedSegmentationTransformer>
{
    private readonly TransformsCatalog catalog;
    private readonly string modelPath;
    private readonly SegmentationPredictionOptions options;

    internal SegmentationPredictionEstimator(TransformsCatalog catalog, string modelPath, SegmentationPredictionOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        ArgumentNullException.ThrowIfNull(options);
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"Model file '{modelPath}' not found (PredictSegmentationMasks needs a model written by transformer.Save or SegmentationModel.Save).", modelPath);
        }

        _ = WeaklySupervisedSegmentationTransformer.ToPredictionOptions(options); // invalid scales fail here rather than at the first row
        this.catalog = catalog;
        this.modelPath = modelPath;
        this.options = options;
    }

    /// <summary>Loads the model file and returns the transformer (dispose it to free the model).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The image column is missing or of the wrong type.</exception>
    public WeaklySupervisedSegmentationTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _ = ImageColumn.Bind(input.Schema, options.ImagePathColumnName, options.ImageFolder);
        return WeaklySupervisedSegmentationTransformer.Load(modelPath, options);
    }

    /// <summary>Schema propagation: the input plus the mask columns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The image column is missing or of the wrong type (the message names it and the expected type).</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ImageColumn.Check(inputSchema, options.ImagePathColumnName);
        return SchemaShapes.Append(catalog, inputSchema, typeof(SegmentationColumns), SegmentationColumns.Names(options));
    }
}
