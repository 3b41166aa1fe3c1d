using Microsoft.ML;
using Microsoft.ML.Data;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.MLNet.Internal;
using Wsss.Seeds;

namespace Wsss.MLNet;

/// <summary>
/// Options of the seeds step (<c>mlContext.Transforms.ComputeReliableSeeds</c>): columns, CAM scales,
/// seed pruning, the pseudo mask's prediction settings, and (for a model file) the device.
/// </summary>
public sealed class ReliableSeedsTransformOptions
{
    /// <summary>Input image column: a text file path, an MLImage (from LoadImages), encoded image bytes, or decoded pixels (see <see cref="WeaklySupervisedImageLoadingTransformer"/>). Default "ImagePath".</summary>
    public string ImageColumnName { get; set; } = "ImagePath";

    /// <summary>Folder that relative image paths are resolved against. Default null (the current directory).</summary>
    public string? ImageFolder { get; set; }

    /// <summary>Input image-level labels: text ("cat;dog"), a vector of text, or keys; every name must be one of the model's classes. Default "Labels".</summary>
    public string LabelsColumnName { get; set; } = "Labels";

    /// <summary>Separators between class names in a text labels column. Default ';', ',' and '|'.</summary>
    public char[] LabelSeparators { get; set; } = [';', ',', '|'];

    /// <summary>Output: normalised class activation maps, classes x height x width, class-major (variable vector of Single, values in [0, 1], zero for absent classes). Default "ClassActivationMaps".</summary>
    public string ClassActivationMapsColumnName { get; set; } = "ClassActivationMaps";

    /// <summary>Output: reliable seeds, height x width row-major (variable vector of UInt32: 0 background, c + 1 class c, 255 unreliable). Default "ReliableSeeds".</summary>
    public string ReliableSeedsColumnName { get; set; } = "ReliableSeeds";

    /// <summary>Output: the two-step variant's pseudo mask, restricted to the labelled classes (variable vector of UInt32, 0 background, c + 1 class c). Default "PseudoMask".</summary>
    public string PseudoMaskColumnName { get; set; } = "PseudoMask";

    /// <summary>Output: the image height (Int32), shared by the three maps. Default "MaskHeight".</summary>
    public string MaskHeightColumnName { get; set; } = "MaskHeight";

    /// <summary>Output: the image width (Int32). Default "MaskWidth".</summary>
    public string MaskWidthColumnName { get; set; } = "MaskWidth";

    /// <summary>CAM scales besides 1. Default null: the training default (0.5, 1.5, 2.0).</summary>
    public IReadOnlyList<double>? CamScales { get; set; }

    /// <summary>Seed pruning settings. Default null: the reference's (<see cref="ReliableSeedOptions"/> defaults).</summary>
    public ReliableSeedOptions? Seeds { get; set; }

    /// <summary>Scales averaged for the pseudo mask. Default [1.0].</summary>
    public IReadOnlyList<double> PseudoMaskScales { get; set; } = [1.0];

    /// <summary>Whether the pseudo mask also averages the flipped image. Default false.</summary>
    public bool PseudoMaskFlip { get; set; }

    /// <summary>Whether the pseudo mask is refined by the dense CRF (over the labelled classes only). Default true, as in the two-step variant.</summary>
    public bool PseudoMaskUseCrf { get; set; } = true;

    /// <summary>CRF settings of the pseudo mask. Default null: RRM's inference CRF (<see cref="DenseCrfOptions.Inference"/>).</summary>
    public DenseCrfOptions? PseudoMaskCrf { get; set; }

    /// <summary>Threads of the seed CRFs; 0 = all cores. Default 0.</summary>
    public int Threads { get; set; }

    /// <summary>Where a model loaded from a file runs (a model or transformer given directly keeps its device). Default <see cref="DeviceKind.Auto"/>.</summary>
    public DeviceKind Device { get; set; } = DeviceKind.Auto;

    /// <summary>CUDA device index for a model file; default null: <see cref="MLContext.GpuDeviceId"/> of <see cref="Context"/>, else 0.</summary>
    public int? GpuDeviceId { get; set; }

    /// <summary>Whether <see cref="DeviceKind.Cuda"/> may fall back to the CPU; default null: <see cref="MLContext.FallbackToCpu"/> of <see cref="Context"/>, else true.</summary>
    public bool? FallbackToCpu { get; set; }

    /// <summary>Optional ML.NET context: GPU settings, and the device fallback line on <see cref="MLContext.Log"/>. Default null.</summary>
    public MLContext? Context { get; set; }

    internal PredictionOptions ToPseudoMaskOptions()
    {
        var prediction = new PredictionOptions
        {
            Scales = PseudoMaskScales?.ToArray()!,
            Flip = PseudoMaskFlip,
            UseCrf = PseudoMaskUseCrf,
            Crf = PseudoMaskCrf ?? DenseCrfOptions.Inference,
        };
        prediction.Validate();
        return prediction;
    }
}

/// <summary>
/// The seed-generation stage as a pipeline step: for each row (an image and its image-level labels) and a
/// trained model, the class activation maps, RRM's reliable seeds and the two-step variant's pseudo mask.
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// ### Estimator Characteristics
/// |  |  |
/// | -- | -- |
/// | Does this estimator need to look at the data to train its parameters? | No (it uses an already trained model) |
/// | Input column data type | Image: Text (file path), Image (MLImage), or vector of Byte (encoded image, or decoded RGB pixels with {name}Height/{name}Width). Labels: Text ("cat;dog"), vector of Text, or Key |
/// | Output column data type | ClassActivationMaps: variable vector of Single (C x H x W); ReliableSeeds, PseudoMask: variable vector of UInt32 (H x W); MaskHeight, MaskWidth: Int32 |
/// | Exportable to ONNX | No |
/// | Saved by mlContext.Model.Save | No |
///
/// The output is lazy: a row's maps are computed when the row is read, each at most once per row however many
/// columns are read (the CAMs serve both their column and the seeds), and a column that is not read is not computed.
/// ]]></format>
/// </remarks>
public sealed class ReliableSeedsEstimator : IEstimator<ReliableSeedsTransformer>
{
    private readonly TransformsCatalog catalog;
    private readonly SegmentationModel? model;
    private readonly string? modelPath;
    private readonly ReliableSeedsTransformOptions options;

    internal ReliableSeedsEstimator(TransformsCatalog catalog, SegmentationModel? model, string? modelPath, ReliableSeedsTransformOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        if (model is null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
            if (!File.Exists(modelPath))
            {
                throw new FileNotFoundException($"Model file '{modelPath}' not found (ComputeReliableSeeds needs a model written by transformer.Save or SegmentationModel.Save).", modelPath);
            }
        }

        _ = options.ToPseudoMaskOptions(); // invalid scales fail here rather than at the first row
        this.catalog = catalog;
        this.model = model;
        this.modelPath = modelPath;
        this.options = options;
    }

    /// <summary>Returns the transformer: with the given model, or the model file loaded on the options' device (owned by the transformer).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or of the wrong type.</exception>
    public ReliableSeedsTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ReliableSeedsTransformer.Validate(input.Schema, options);
        if (model is not null)
        {
            return new ReliableSeedsTransformer(model, ownsModel: false, options);
        }

        using var log = new ContextLog(options.Context);
        var device = DeviceSelection.Resolve(options.Device, options.GpuDeviceId, options.FallbackToCpu, options.Context, log.Info);
        return new ReliableSeedsTransformer(SegmentationModel.Load(modelPath!, device), ownsModel: true, options);
    }

    /// <summary>Schema propagation: the input plus the CAM, seed, pseudo-mask and size columns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or of the wrong type (the message names it and the expected type).</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ImageColumn.Check(inputSchema, options.ImageColumnName);
        LabelsColumn.Check(inputSchema, options.LabelsColumnName);
        return SchemaShapes.Append(catalog, inputSchema, typeof(SeedColumns), new Dictionary<string, string?>
        {
            [nameof(SeedColumns.ClassActivationMaps)] = options.ClassActivationMapsColumnName,
            [nameof(SeedColumns.ReliableSeeds)] = options.ReliableSeedsColumnName,
            [nameof(SeedColumns.PseudoMask)] = options.PseudoMaskColumnName,
            [nameof(SeedColumns.MaskHeight)] = options.MaskHeightColumnName,
            [nameof(SeedColumns.MaskWidth)] = options.MaskWidthColumnName,
        });
    }
}

/// <summary>
/// The fitted seeds step (see <see cref="ReliableSeedsEstimator"/>): lazy, one computation per row and map.
/// Thread-safe like <see cref="SegmentationModel"/>; it disposes the model only when it loaded it from a file.
/// </summary>
public sealed class ReliableSeedsTransformer : ITransformer, IDisposable
{
    private readonly bool ownsModel;
    private readonly ReliableSeedsTransformOptions options;
    private readonly PredictionOptions pseudoMask;
    private readonly Dictionary<string, int> classIndex;

    internal ReliableSeedsTransformer(SegmentationModel model, bool ownsModel, ReliableSeedsTransformOptions options)
    {
        Model = model;
        this.ownsModel = ownsModel;
        this.options = options;
        pseudoMask = options.ToPseudoMaskOptions();
        classIndex = model.ClassNames.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
    }

    /// <summary>The model the maps come from.</summary>
    public SegmentationModel Model { get; }

    /// <summary>Always true: each output row depends only on its input row.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus the CAM, seed, pseudo-mask and size columns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or of the wrong type (the message names it and the expected type).</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Bind(inputSchema).OutputSchema;

    /// <summary>A lazy view: the maps are computed when rows are read.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new MappedDataView(input, Bind(input.Schema));
    }

    /// <summary>The row mapper used by prediction engines.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => Bind(inputSchema);

    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException(
        "ReliableSeedsTransformer cannot be written by mlContext.Model.Save: ML.NET has no public API to persist third-party " +
        "transformers. Save its model with model.Save(path) and recreate the step with mlContext.Transforms.ComputeReliableSeeds(path, options).");

    /// <summary>Releases the model when this transformer loaded it from a file.</summary>
    public void Dispose()
    {
        if (ownsModel)
        {
            Model.Dispose();
        }
    }

    internal static (ImageColumn Image, LabelsColumn Labels) Validate(DataViewSchema schema, ReliableSeedsTransformOptions options)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return (ImageColumn.Bind(schema, options.ImageColumnName, options.ImageFolder), LabelsColumn.Bind(schema, options.LabelsColumnName, options.LabelSeparators));
    }

    private SeedMapping Bind(DataViewSchema inputSchema)
    {
        var (image, labels) = Validate(inputSchema, options);
        return new SeedMapping(inputSchema, image, labels, this);
    }

    private int[] ClassIndices(string[] names, long row)
    {
        var indices = new int[names.Length];
        for (int i = 0; i < names.Length; i++)
        {
            if (!classIndex.TryGetValue(names[i], out indices[i]))
            {
                throw new InvalidOperationException(
                    $"Row {row}: label '{names[i]}' in column '{options.LabelsColumnName}' is not one of the model's classes ({string.Join(", ", Model.ClassNames)}).");
            }
        }

        return indices;
    }

    private sealed class SeedMapping(DataViewSchema input, ImageColumn image, LabelsColumn labels, ReliableSeedsTransformer owner)
        : RowMapping(input,
        [
            (owner.options.ClassActivationMapsColumnName, new VectorDataViewType(NumberDataViewType.Single)),
            (owner.options.ReliableSeedsColumnName, new VectorDataViewType(NumberDataViewType.UInt32)),
            (owner.options.PseudoMaskColumnName, new VectorDataViewType(NumberDataViewType.UInt32)),
            (owner.options.MaskHeightColumnName, NumberDataViewType.Int32),
            (owner.options.MaskWidthColumnName, NumberDataViewType.Int32),
        ])
    {
        public override IReadOnlyList<DataViewSchema.Column> Sources { get; } = image.Sources.Append(labels.Column).Distinct().ToArray();

        public override RowComputer CreateComputer(DataViewRow row) => new Computer(row, image.CreateReader(row), labels.CreateReader(row), owner);
    }

    /// <summary>Reads a row's image and labels once; each map is computed on first use within the row.</summary>
    private sealed class Computer(DataViewRow row, Func<RgbImage> readImage, Func<string[]> readLabels, ReliableSeedsTransformer owner) : RowComputer(row)
    {
        private RgbImage? image;
        private int[] labels = [];
        private float[]? cams;
        private byte[]? seeds;
        private byte[]? pseudoMask;

        protected override void Compute()
        {
            image = readImage();
            labels = owner.ClassIndices(readLabels(), Input.Position);
            cams = null;
            seeds = null;
            pseudoMask = null;
        }

        public override Delegate GetGetter(int index) => index switch
        {
            0 => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) => Write(Cams(), ref dst)),
            1 => (ValueGetter<VBuffer<uint>>)((ref VBuffer<uint> dst) => Write(Seeds(), ref dst)),
            2 => (ValueGetter<VBuffer<uint>>)((ref VBuffer<uint> dst) => Write(PseudoMask(), ref dst)),
            3 => (ValueGetter<int>)((ref int dst) =>
            {
                EnsureComputed();
                dst = image!.Height;
            }),
            4 => (ValueGetter<int>)((ref int dst) =>
            {
                EnsureComputed();
                dst = image!.Width;
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };

        private float[] Cams()
        {
            EnsureComputed();
            return cams ??= owner.Model.ClassActivationMaps(image!, labels, owner.options.CamScales);
        }

        private byte[] Seeds()
        {
            float[] maps = Cams();
            if (seeds is null)
            {
                // Seeds come from the same CAMs as the CAM column, so the forward pass runs once per row.
                var present = new byte[owner.Model.ClassNames.Count];
                foreach (int c in labels)
                {
                    present[c] = 1;
                }

                using var engine = new global::Wsss.Seeds.ReliableSeeds(owner.options.Seeds, owner.options.Threads);
                seeds = engine.Compute(image!, present, maps);
            }

            return seeds;
        }

        private byte[] PseudoMask()
        {
            EnsureComputed();
            return pseudoMask ??= owner.Model.PseudoMask(image!, labels, owner.pseudoMask).Mask.Labels;
        }

        private static void Write(float[] values, ref VBuffer<float> dst)
        {
            var editor = VBufferEditor.Create(ref dst, values.Length);
            values.CopyTo(editor.Values);
            dst = editor.Commit();
        }

        private static void Write(byte[] values, ref VBuffer<uint> dst)
        {
            var editor = VBufferEditor.Create(ref dst, values.Length);
            for (int i = 0; i < values.Length; i++)
            {
                editor.Values[i] = values[i];
            }

            dst = editor.Commit();
        }
    }
}
