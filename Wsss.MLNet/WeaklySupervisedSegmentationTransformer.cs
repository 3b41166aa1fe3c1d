using Microsoft.ML;
using Microsoft.ML.Data;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.MLNet.Internal;

namespace Wsss.MLNet;

/// <summary>
/// The fitted segmentation step: adds a predicted mask to every row, lazily (only rows that are read
/// are segmented, once per row for all the added columns). Works with <c>CreatePredictionEngine</c>.
/// </summary>
/// <remarks>
/// Added columns: <c>PredictedMask</c> (variable-length vector of UInt32, one class index per pixel,
/// row-major, 0 = background, class i = <see cref="ClassNames"/>[i - 1]), <c>MaskHeight</c> and
/// <c>MaskWidth</c> (Int32), and optionally <c>ClassProbabilities</c> (variable-length vector of Single,
/// (classes + 1) x height x width). Persist it with <see cref="Save(string)"/> and
/// <see cref="Load(string, SegmentationPredictionOptions?)"/>: ML.NET's <c>mlContext.Model.Save</c> has
/// no public API for third-party transformers and reports that with a <see cref="NotSupportedException"/>.
/// Prediction is thread-safe; the transformer owns the model and disposes it.
/// </remarks>
public sealed class WeaklySupervisedSegmentationTransformer : ITransformer, IDisposable
{
    private readonly SegmentationPredictionOptions options;
    private readonly PredictionOptions prediction;

    internal WeaklySupervisedSegmentationTransformer(SegmentationModel model, SegmentationPredictionOptions options)
    {
        Model = model;
        this.options = options;
        prediction = ToPredictionOptions(options);
    }

    /// <summary>The core library's prediction settings for <paramref name="options"/>, validated.</summary>
    /// <exception cref="ArgumentException">No scale, or a scale that is not positive and finite.</exception>
    internal static PredictionOptions ToPredictionOptions(SegmentationPredictionOptions options)
    {
        var prediction = new PredictionOptions
        {
            Scales = options.PredictionScales?.ToArray()!,
            Flip = options.PredictionFlip,
            UseCrf = options.PredictionUseCrf,
            Crf = options.PredictionCrf ?? Seeds.DenseCrfOptions.Inference,
            IncludeProbabilities = options.OutputClassProbabilities,
        };
        prediction.Validate();
        return prediction;
    }

    /// <summary>The trained model (owned by this transformer).</summary>
    public SegmentationModel Model { get; }

    /// <summary>The foreground classes; mask value i is <c>ClassNames[i - 1]</c>, 0 is background.</summary>
    public IReadOnlyList<string> ClassNames => Model.ClassNames;

    /// <summary>Always true: each output row depends only on its input row.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus the mask columns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The image column is missing or of the wrong type (the message names it and the expected type).</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Bind(inputSchema).OutputSchema;

    /// <summary>A lazy view: masks are computed when rows are read.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new MappedDataView(input, Bind(input.Schema));
    }

    /// <summary>The row mapper used by prediction engines.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => Bind(inputSchema);

    /// <summary>Writes the model file (one safetensors file with the weights and class names), atomically.</summary>
    public void Save(string path) => Model.Save(path);

    /// <summary>
    /// Loads a model file written by <see cref="Save(string)"/> (or by the core library's
    /// <see cref="SegmentationModel.Save"/>); <paramref name="options"/> gives the column names,
    /// prediction settings and device (defaults when null).
    /// </summary>
    public static WeaklySupervisedSegmentationTransformer Load(string path, SegmentationPredictionOptions? options = null)
    {
        options ??= new SegmentationPredictionOptions();
        _ = ToPredictionOptions(options);
        using var log = new ContextLog(options.Context);
        var device = DeviceSelection.Resolve(options.Device, options.GpuDeviceId, options.FallbackToCpu, options.Context, log.Info);
        return new WeaklySupervisedSegmentationTransformer(SegmentationModel.Load(path, device), options);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException(
        "WeaklySupervisedSegmentationTransformer cannot be written by mlContext.Model.Save: ML.NET has no public API to " +
        "persist third-party transformers. Save it with transformer.Save(path) (the Wsss model file) and restore it with " +
        "WeaklySupervisedSegmentationTransformer.Load(path, options); save the other steps of the chain separately.");

    /// <summary>Releases the model's native memory.</summary>
    public void Dispose() => Model.Dispose();

    private SegmentationMapping Bind(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var image = ImageColumn.Bind(inputSchema, options.ImagePathColumnName, options.ImageFolder);
        return new SegmentationMapping(inputSchema, image, this);
    }

    private sealed class SegmentationMapping(DataViewSchema input, ImageColumn image, WeaklySupervisedSegmentationTransformer owner)
        : RowMapping(input, Columns(owner.options))
    {
        public override IReadOnlyList<DataViewSchema.Column> Sources { get; } = image.Sources.ToArray();

        public override RowComputer CreateComputer(DataViewRow row) => new Computer(row, image.CreateReader(row), owner);

        private static List<(string, DataViewType)> Columns(SegmentationPredictionOptions o)
        {
            var columns = new List<(string, DataViewType)>
            {
                (o.PredictedMaskColumnName, new VectorDataViewType(NumberDataViewType.UInt32)),
                (o.MaskHeightColumnName, NumberDataViewType.Int32),
                (o.MaskWidthColumnName, NumberDataViewType.Int32),
            };
            if (o.OutputClassProbabilities)
            {
                columns.Add((o.ClassProbabilitiesColumnName, new VectorDataViewType(NumberDataViewType.Single)));
            }

            return columns;
        }
    }

    private sealed class Computer(DataViewRow row, Func<RgbImage> readImage, WeaklySupervisedSegmentationTransformer owner) : RowComputer(row)
    {
        private SegmentationResult? result;

        protected override void Compute() => result = owner.Model.Predict(readImage(), owner.prediction);

        public override Delegate GetGetter(int index) => index switch
        {
            0 => (ValueGetter<VBuffer<uint>>)((ref VBuffer<uint> dst) =>
            {
                EnsureComputed();
                byte[] labels = result!.Mask.Labels;
                var editor = VBufferEditor.Create(ref dst, labels.Length);
                for (int i = 0; i < labels.Length; i++)
                {
                    editor.Values[i] = labels[i];
                }

                dst = editor.Commit();
            }),
            1 => (ValueGetter<int>)((ref int dst) =>
            {
                EnsureComputed();
                dst = result!.Height;
            }),
            2 => (ValueGetter<int>)((ref int dst) =>
            {
                EnsureComputed();
                dst = result!.Width;
            }),
            3 => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
            {
                EnsureComputed();
                float[] p = result!.Probabilities ?? [];
                var editor = VBufferEditor.Create(ref dst, p.Length);
                p.CopyTo(editor.Values);
                dst = editor.Commit();
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };
    }
}
