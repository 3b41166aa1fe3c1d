using Microsoft.ML;
using Wsss.Model;
using Wsss.Training;

namespace Wsss.MLNet;

/// <summary>Column names and prediction settings of the mask-prediction transform.</summary>
public class SegmentationPredictionOptions
{
    /// <summary>Input image column: a text file path, an MLImage (from LoadImages), encoded image bytes, or decoded pixels (see <see cref="WeaklySupervisedImageLoadingTransformer"/>). Default "ImagePath".</summary>
    public string ImagePathColumnName { get; set; } = "ImagePath";

    /// <summary>Folder that relative image paths are resolved against. Default null (the current directory).</summary>
    public string? ImageFolder { get; set; }

    /// <summary>Output: the class index of every pixel, row-major (a variable-length vector of UInt32; 0 is background). Default "PredictedMask".</summary>
    public string PredictedMaskColumnName { get; set; } = "PredictedMask";

    /// <summary>Output: the mask's height (Int32). Default "MaskHeight".</summary>
    public string MaskHeightColumnName { get; set; } = "MaskHeight";

    /// <summary>Output: the mask's width (Int32). Default "MaskWidth".</summary>
    public string MaskWidthColumnName { get; set; } = "MaskWidth";

    /// <summary>Output when <see cref="OutputClassProbabilities"/>: (classes + 1) x height x width probabilities (Single). Default "ClassProbabilities".</summary>
    public string ClassProbabilitiesColumnName { get; set; } = "ClassProbabilities";

    /// <summary>Whether to add the probability column (large: one float per class and pixel). Default false.</summary>
    public bool OutputClassProbabilities { get; set; }

    /// <summary>Image scales averaged at prediction time. Default [1.0].</summary>
    public IReadOnlyList<double> PredictionScales { get; set; } = [1.0];

    /// <summary>Whether to also average horizontally flipped predictions. Default false.</summary>
    public bool PredictionFlip { get; set; }

    /// <summary>Whether to refine masks with the dense CRF. Default false.</summary>
    public bool PredictionUseCrf { get; set; }

    /// <summary>CRF settings when <see cref="PredictionUseCrf"/>. Default null: RRM's inference CRF (<see cref="Seeds.DenseCrfOptions.Inference"/>).</summary>
    public Seeds.DenseCrfOptions? PredictionCrf { get; set; }

    /// <summary>Where the network runs. Default <see cref="DeviceKind.Auto"/>.</summary>
    public DeviceKind Device { get; set; } = DeviceKind.Auto;

    /// <summary>CUDA device index; default null: <see cref="MLContext.GpuDeviceId"/> of <see cref="Context"/>, else 0.</summary>
    public int? GpuDeviceId { get; set; }

    /// <summary>Whether <see cref="DeviceKind.Cuda"/> may fall back to the CPU; default null: <see cref="MLContext.FallbackToCpu"/> of <see cref="Context"/>, else true.</summary>
    public bool? FallbackToCpu { get; set; }

    /// <summary>
    /// Optional ML.NET context: supplies <see cref="MLContext.GpuDeviceId"/> and <see cref="MLContext.FallbackToCpu"/>
    /// and receives progress lines on <see cref="MLContext.Log"/>. Default null.
    /// </summary>
    public MLContext? Context { get; set; }
}

/// <summary>
/// Options of <see cref="WeaklySupervisedSegmentationEstimator"/>: the columns, the training settings
/// (the most used ones directly; everything else through <see cref="Training"/>) and the prediction settings.
/// </summary>
public sealed class WeaklySupervisedSegmentationOptions : SegmentationPredictionOptions
{
    /// <summary>Input labels column: text ("cat;dog"), a vector of text, or keys. Default "Labels".</summary>
    public string LabelsColumnName { get; set; } = "Labels";

    /// <summary>Separators between class names in a text labels column. Default ';', ',' and '|'.</summary>
    public char[] LabelSeparators { get; set; } = [';', ',', '|'];

    /// <summary>The foreground classes in model order. Default null: every label seen in the training data, sorted ordinally.</summary>
    public IReadOnlyList<string>? ClassNames { get; set; }

    /// <summary>Backbone network. Default <see cref="BackboneKind.MobileNetV1"/>.</summary>
    public BackboneKind Backbone { get; set; } = BackboneKind.MobileNetV1;

    /// <summary>Backbone width multiplier (MobileNetV1 alpha). Default 1.0.</summary>
    public double BackboneWidth { get; set; } = 1.0;

    /// <summary>Pretrained backbone weights: a TensorFlow.js model.json (MobileNetV1) or a safetensors file. Default null (random initialisation).</summary>
    public string? PretrainedWeightsPath { get; set; }

    /// <summary>Training iterations. Default 20000 (as <see cref="RrmTrainingOptions.Iterations"/>).</summary>
    public int Iterations { get; set; } = 20_000;

    /// <summary>Images per iteration. Default 4.</summary>
    public int BatchSize { get; set; } = 4;

    /// <summary>Square training crop side in pixels. Default 321.</summary>
    public int CropSize { get; set; } = 321;

    /// <summary>Random seed of training. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>CPU threads for libtorch; 0 = all cores. Default 0.</summary>
    public int Threads { get; set; }

    /// <summary>Checkpoint file: written periodically and on cancellation, resumed when present. Default null (none).</summary>
    public string? CheckpointPath { get; set; }

    /// <summary>
    /// Advanced training settings (learning rate, loss weights, seeds, energy loss ...). Default null:
    /// <see cref="RrmTrainingOptions"/> defaults. The properties above override the same settings in it.
    /// </summary>
    public RrmTrainingOptions? Training { get; set; }

    /// <summary>Cancels training; with a <see cref="CheckpointPath"/> the progress so far is kept. Default none.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Receives training progress (loss, learning rate, speed, time left). Default null.</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }

    /// <summary>Builds the core trainer's options from these options.</summary>
    internal RrmTrainingOptions ToTrainingOptions(TorchSharp.torch.Device device)
    {
        // A copy, so that the user's Training object is never modified.
        var t = new RrmTrainingOptions();
        if (Training is { } source)
        {
            foreach (var property in typeof(RrmTrainingOptions).GetProperties().Where(p => p.CanRead && p.CanWrite))
            {
                property.SetValue(t, property.GetValue(source));
            }
        }

        t.Backbone = Backbone;
        t.BackboneWidth = BackboneWidth;
        t.PretrainedWeightsPath = PretrainedWeightsPath;
        t.Iterations = Iterations;
        t.BatchSize = BatchSize;
        t.CropSize = CropSize;
        t.Seed = Seed;
        t.Threads = Threads;
        t.CheckpointPath = CheckpointPath;
        t.Device = device;
        return t;
    }
}
