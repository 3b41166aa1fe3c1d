using Microsoft.ML;
using Microsoft.ML.Data;
using Wsss.Imaging;
using Wsss.MLNet.Internal;

namespace Wsss.MLNet;

/// <summary>
/// Decodes the image of every row (file path, encoded bytes or MLImage) into RGB pixels: <c>{output}</c> (variable
/// vector of Byte, row-major RGB), <c>{output}Height</c> and <c>{output}Width</c> (Int32). The segmentation
/// steps accept this output as their image column, so a pipeline decodes each image once.
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// ### Estimator Characteristics
/// |  |  |
/// | -- | -- |
/// | Does this estimator need to look at the data to train its parameters? | No |
/// | Input column data type | Text (file path), Image (MLImage) or vector of Byte (encoded image) |
/// | Output column data type | Vector of Byte (RGB pixels), Int32 height and width |
/// | Exportable to ONNX | No |
/// ]]></format>
/// </remarks>
public sealed class WeaklySupervisedImageLoadingEstimator : IEstimator<WeaklySupervisedImageLoadingTransformer>
{
    private readonly TransformsCatalog catalog;
    private readonly WeaklySupervisedImageLoadingTransformer transformer;

    internal WeaklySupervisedImageLoadingEstimator(TransformsCatalog catalog, string output, string input, string? folder)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        this.catalog = catalog;
        transformer = new WeaklySupervisedImageLoadingTransformer(output, input, folder);
    }

    /// <summary>Returns the transformer (nothing is learned).</summary>
    public WeaklySupervisedImageLoadingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _ = transformer.GetOutputSchema(input.Schema);
        return transformer;
    }

    /// <summary>The input plus the pixel and size columns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The input column is missing or of the wrong type.</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ImageColumn.Check(inputSchema, transformer.InputColumnName);
        return SchemaShapes.Append(catalog, inputSchema, typeof(DecodedImageColumns), new Dictionary<string, string?>
        {
            [nameof(DecodedImageColumns.Image)] = transformer.OutputColumnName,
            [nameof(DecodedImageColumns.ImageHeight)] = transformer.OutputColumnName + "Height",
            [nameof(DecodedImageColumns.ImageWidth)] = transformer.OutputColumnName + "Width",
        });
    }
}

/// <summary>The image-decoding step (see <see cref="WeaklySupervisedImageLoadingEstimator"/>); lazy, stateless.</summary>
public sealed class WeaklySupervisedImageLoadingTransformer : ITransformer
{
    internal WeaklySupervisedImageLoadingTransformer(string output, string input, string? folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(output);
        ArgumentException.ThrowIfNullOrWhiteSpace(input);
        OutputColumnName = output;
        InputColumnName = input;
        ImageFolder = folder;
    }

    /// <summary>The pixel column's name (the size columns add Height and Width).</summary>
    public string OutputColumnName { get; }

    /// <summary>The path or bytes column.</summary>
    public string InputColumnName { get; }

    /// <summary>Folder for relative paths, or null.</summary>
    public string? ImageFolder { get; }

    /// <summary>Always true.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input plus the pixel and size columns.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Bind(inputSchema).OutputSchema;

    /// <summary>A lazy view that decodes images when rows are read.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new MappedDataView(input, Bind(input.Schema));
    }

    /// <summary>The row mapper used by prediction engines.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => Bind(inputSchema);

    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException(
        "WeaklySupervisedImageLoadingTransformer cannot be written by mlContext.Model.Save (ML.NET has no public API to persist " +
        "third-party transformers); it has no state: recreate it with mlContext.Transforms.LoadWeaklySupervisedImages(...).");

    private Mapping Bind(DataViewSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var image = ImageColumn.Bind(schema, InputColumnName, ImageFolder);
        return new Mapping(schema, image, OutputColumnName);
    }

    private sealed class Mapping(DataViewSchema input, ImageColumn image, string output) : RowMapping(input,
        [(output, new VectorDataViewType(NumberDataViewType.Byte)), (output + "Height", NumberDataViewType.Int32), (output + "Width", NumberDataViewType.Int32)])
    {
        public override IReadOnlyList<DataViewSchema.Column> Sources { get; } = image.Sources.ToArray();

        public override RowComputer CreateComputer(DataViewRow row) => new Computer(row, image.CreateReader(row));
    }

    private sealed class Computer(DataViewRow row, Func<RgbImage> read) : RowComputer(row)
    {
        private RgbImage? image;

        protected override void Compute() => image = read();

        public override Delegate GetGetter(int index) => index switch
        {
            0 => (ValueGetter<VBuffer<byte>>)((ref VBuffer<byte> dst) =>
            {
                EnsureComputed();
                var editor = VBufferEditor.Create(ref dst, image!.Pixels.Length);
                image.Pixels.CopyTo(editor.Values);
                dst = editor.Commit();
            }),
            1 => (ValueGetter<int>)((ref int dst) =>
            {
                EnsureComputed();
                dst = image!.Height;
            }),
            2 => (ValueGetter<int>)((ref int dst) =>
            {
                EnsureComputed();
                dst = image!.Width;
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };
    }
}
