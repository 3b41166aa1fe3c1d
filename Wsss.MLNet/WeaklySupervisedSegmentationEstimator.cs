using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Wsss.Data;
using Wsss.MLNet.Internal;
using Wsss.Training;

namespace Wsss.MLNet;

/// <summary>
/// Trains a weakly supervised semantic segmentation model (RRM) from images labelled only with the
/// classes they contain, and returns a <see cref="WeaklySupervisedSegmentationTransformer"/> that
/// predicts a class for every pixel.
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// ### Estimator Characteristics
/// |  |  |
/// | -- | -- |
/// | Does this estimator need to look at the data to train its parameters? | Yes |
/// | Input column data type | Image: Text (file path), Image (MLImage), or vector of Byte (encoded image, or decoded RGB pixels with {name}Height/{name}Width). Labels: Text ("cat;dog"), vector of Text, or Key |
/// | Output column data type | PredictedMask: variable vector of UInt32; MaskHeight, MaskWidth: Int32; ClassProbabilities (optional): variable vector of Single |
/// | Exportable to ONNX | No |
/// | Saved by mlContext.Model.Save | No: use <see cref="WeaklySupervisedSegmentationTransformer.Save(string)"/> |
///
/// Fit reads every row of the training view once and keeps the decoded images in memory while training.
/// Training runs on the device of <see cref="SegmentationPredictionOptions.Device"/> (Auto: a CUDA GPU
/// when available, else the CPU); cancellation and progress come from the options.
/// ]]></format>
/// </remarks>
public sealed class WeaklySupervisedSegmentationEstimator : IEstimator<WeaklySupervisedSegmentationTransformer>
{
    private readonly TransformsCatalog catalog;
    private readonly WeaklySupervisedSegmentationOptions options;

    /// <summary>Creates the estimator; <paramref name="context"/> also supplies GPU settings and logging unless the options have their own context.</summary>
    public WeaklySupervisedSegmentationEstimator(MLContext context, WeaklySupervisedSegmentationOptions options)
        : this(context?.Transforms!, options)
    {
        options.Context ??= context;
    }

    internal WeaklySupervisedSegmentationEstimator(TransformsCatalog catalog, WeaklySupervisedSegmentationOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        this.catalog = catalog;
        this.options = options;
    }

    /// <summary>Schema propagation: the input plus the mask columns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or has the wrong type (the message names it and the expected type).</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ImageColumn.Check(inputSchema, options.ImagePathColumnName);
        LabelsColumn.Check(inputSchema, options.LabelsColumnName);
        return SchemaShapes.Append(catalog, inputSchema, typeof(SegmentationColumns), SegmentationColumns.Names(options));
    }

    /// <summary>Reads the images and labels, trains, and returns the fitted transformer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or has the wrong type.</exception>
    /// <exception cref="InvalidOperationException">A row's image cannot be read, or a label is not one of <see cref="WeaklySupervisedSegmentationOptions.ClassNames"/>.</exception>
    /// <exception cref="OperationCanceledException">Training was cancelled through the options' token.</exception>
    public WeaklySupervisedSegmentationTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _ = WeaklySupervisedSegmentationTransformer.ToPredictionOptions(options); // bad prediction settings fail before training, not after
        using var log = new ContextLog(options.Context);
        var image = ImageColumn.Bind(input.Schema, options.ImagePathColumnName, options.ImageFolder);
        var labels = LabelsColumn.Bind(input.Schema, options.LabelsColumnName, options.LabelSeparators);

        var rows = new List<(Imaging.RgbImage Image, string[] Labels, long Row)>();
        using (var cursor = input.GetRowCursor(image.Sources.Append(labels.Column).Distinct()))
        {
            var readImage = image.CreateReader(cursor);
            var readLabels = labels.CreateReader(cursor);
            while (cursor.MoveNext())
            {
                options.CancellationToken.ThrowIfCancellationRequested();
                rows.Add((readImage(), readLabels(), cursor.Position));
            }
        }

        IReadOnlyList<string> classNames = options.ClassNames ?? rows.SelectMany(r => r.Labels).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var index = classNames.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
        var samples = new List<LabelledImage>(rows.Count);
        foreach (var (img, names, row) in rows)
        {
            var ids = names.Select(n => index.TryGetValue(n, out int i) ? i : throw new InvalidOperationException(
                $"Row {row}: label '{n}' in column '{options.LabelsColumnName}' is not one of the classes ({string.Join(", ", classNames)}).")).ToArray();
            samples.Add(new LabelledImage($"row {row}", img, ids, classNames));
        }

        var device = DeviceSelection.Resolve(options.Device, options.GpuDeviceId, options.FallbackToCpu, options.Context, log.Info);
        var training = options.ToTrainingOptions(device);
        log.Info($"Training on {samples.Count} images, {classNames.Count} classes, {training.Iterations} iterations on {device}.");
        var progress = new ForwardingProgress(options.Progress, log);
        var model = new RrmTrainer(training).Train(WeakDataset.From(samples, classNames), progress, options.CancellationToken);
        return new WeaklySupervisedSegmentationTransformer(model, options);
    }

    /// <summary>Forwards progress to the user's reporter and writes "Iteration: N, Loss: x" lines to the ML.NET log.</summary>
    private sealed class ForwardingProgress(IProgress<TrainingProgress>? user, ContextLog log) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            user?.Report(value);
            log.Info(FormattableString.Invariant(
                $"Iteration: {value.Iteration}/{value.TotalIterations}, Loss: {value.Loss:F4}, LearningRate: {value.LearningRate:G4}, Remaining: {value.Remaining:hh\\:mm\\:ss}"));
        }
    }
}

/// <summary>Writes informational lines to <see cref="MLContext.Log"/> through a channel of the context.</summary>
internal sealed class ContextLog : IDisposable
{
    private readonly IChannel? channel;

    public ContextLog(MLContext? context) => channel = (context as IHostEnvironment)?.Start("WeaklySupervisedSegment");

    public void Info(string message) => channel?.Info(MessageSensitivity.None, message);

    public void Dispose() => channel?.Dispose();
}
