using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using Wsss.Imaging;

namespace Wsss.MLNet.Internal;

/// <summary>
/// Reads an image from the image column of a row. Four forms are accepted: a text column of file
/// paths; a byte vector of an encoded file (PNG, JPEG, ...); the decoded pixels that
/// <see cref="WeaklySupervisedImageLoadingTransformer"/> writes (a byte vector, row-major RGB, with
/// Int32 columns <c>{name}Height</c> and <c>{name}Width</c> beside it); or an ML.NET image column
/// (<see cref="MLImage"/>, from <c>mlContext.Transforms.LoadImages</c>, any size, BGRA or RGBA), whose pixels are
/// used as the image holds them (alpha dropped; ML.NET applies no EXIF orientation).
/// </summary>
internal sealed class ImageColumn
{
    private ImageColumn(DataViewSchema.Column column, DataViewSchema.Column? height, DataViewSchema.Column? width, string? baseFolder)
    {
        Column = column;
        HeightColumn = height;
        WidthColumn = width;
        BaseFolder = baseFolder;
    }

    public DataViewSchema.Column Column { get; }

    public DataViewSchema.Column? HeightColumn { get; }

    public DataViewSchema.Column? WidthColumn { get; }

    public string? BaseFolder { get; }

    public IEnumerable<DataViewSchema.Column> Sources =>
        HeightColumn is { } h && WidthColumn is { } w ? [Column, h, w] : [Column];

    public const string ExpectedType = "Text (a file path), Image (an MLImage, from mlContext.Transforms.LoadImages), or a vector of Byte (an encoded image, or decoded RGB pixels with Int32 columns {name}Height and {name}Width)";

    /// <summary>Finds and checks the column; the exception names it and the expected type.</summary>
    public static ImageColumn Bind(DataViewSchema schema, string name, string? baseFolder)
    {
        var column = schema.GetColumnOrNull(name) ?? throw SchemaErrors.Missing(name, ExpectedType);
        if (column.Type is TextDataViewType or ImageDataViewType)
        {
            return new ImageColumn(column, null, null, baseFolder);
        }

        if (column.Type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Byte)
        {
            var height = schema.GetColumnOrNull(name + "Height");
            var width = schema.GetColumnOrNull(name + "Width");
            bool decoded = height is { Type: var ht } && ht == NumberDataViewType.Int32 && width is { Type: var wt } && wt == NumberDataViewType.Int32;
            return decoded ? new ImageColumn(column, height, width, baseFolder) : new ImageColumn(column, null, null, baseFolder);
        }

        throw SchemaErrors.WrongType(name, ExpectedType, column.Type);
    }

    /// <summary>The same check on a schema shape (estimator schema propagation).</summary>
    public static void Check(SchemaShape shape, string name)
    {
        var column = shape.FirstOrDefault(c => c.Name == name);
        if (column.Name is null)
        {
            throw SchemaErrors.Missing(name, ExpectedType);
        }

        bool pathOrImage = column.Kind == SchemaShape.Column.VectorKind.Scalar && column.ItemType is (TextDataViewType or ImageDataViewType) && !column.IsKey;
        bool bytes = column.Kind != SchemaShape.Column.VectorKind.Scalar && column.ItemType == NumberDataViewType.Byte && !column.IsKey;
        if (!pathOrImage && !bytes)
        {
            throw SchemaErrors.WrongType(name, ExpectedType, SchemaErrors.Describe(column));
        }
    }

    /// <summary>Creates a reader bound to <paramref name="row"/>; call it once per row.</summary>
    public Func<RgbImage> CreateReader(DataViewRow row)
    {
        string name = Column.Name;
        if (Column.Type is TextDataViewType)
        {
            var getter = row.GetGetter<ReadOnlyMemory<char>>(Column);
            ReadOnlyMemory<char> text = default;
            return () =>
            {
                getter(ref text);
                string path = text.ToString().Trim();
                if (path.Length == 0)
                {
                    throw new InvalidOperationException($"Row {row.Position}: column '{name}' has an empty image path.");
                }

                if (BaseFolder is not null && !Path.IsPathRooted(path))
                {
                    path = Path.Combine(BaseFolder, path);
                }

                return ImageCodec.Decode(path);
            };
        }

        if (Column.Type is ImageDataViewType)
        {
            var imageGetter = row.GetGetter<MLImage>(Column);
            // ML.NET's getters hand out null before the first row; the image step owns the value (it disposes the previous
            // one on the next call), so the pixels are copied at once.
            MLImage image = null!;
            return () =>
            {
                imageGetter(ref image);
                if (image is null || image.Width <= 0 || image.Height <= 0)
                {
                    throw new InvalidOperationException($"Row {row.Position}: column '{name}' holds no image (LoadImages could not read it).");
                }

                return FromMLImage(image, row.Position, name);
            };
        }

        var bytesGetter = row.GetGetter<VBuffer<byte>>(Column);
        VBuffer<byte> buffer = default;
        if (HeightColumn is { } hc && WidthColumn is { } wc)
        {
            var hGetter = row.GetGetter<int>(hc);
            var wGetter = row.GetGetter<int>(wc);
            return () =>
            {
                int h = 0, w = 0;
                hGetter(ref h);
                wGetter(ref w);
                bytesGetter(ref buffer);
                if (h <= 0 || w <= 0 || buffer.Length != h * w * 3)
                {
                    throw new InvalidOperationException(
                        $"Row {row.Position}: column '{name}' holds {buffer.Length} bytes, which are not the RGB pixels of a {h}x{w} image ({name}Height x {name}Width).");
                }

                var pixels = new byte[buffer.Length];
                buffer.CopyTo(pixels);
                return new RgbImage(h, w, pixels);
            };
        }

        return () =>
        {
            bytesGetter(ref buffer);
            if (buffer.Length == 0)
            {
                throw new InvalidOperationException($"Row {row.Position}: column '{name}' holds no image bytes.");
            }

            var data = new byte[buffer.Length];
            buffer.CopyTo(data);
            return ImageCodec.Decode(data, $"row {row.Position} of column '{name}'");
        };
    }

    /// <summary>An MLImage's 32-bit pixels (BGRA or RGBA, rows possibly padded) as row-major RGB.</summary>
    internal static RgbImage FromMLImage(MLImage image, long row, string column)
    {
        int h = image.Height, w = image.Width;
        ReadOnlySpan<byte> pixels = image.Pixels;
        int stride = pixels.Length / h;
        if (stride < w * 4 || pixels.Length % h != 0)
        {
            throw new InvalidOperationException($"Row {row}: column '{column}' holds a {w}x{h} MLImage with {pixels.Length} pixel bytes, not 4 per pixel.");
        }

        (int r, int b) = image.PixelFormat switch
        {
            MLPixelFormat.Bgra32 => (2, 0),
            MLPixelFormat.Rgba32 => (0, 2),
            _ => throw new InvalidOperationException($"Row {row}: column '{column}' holds an MLImage of pixel format {image.PixelFormat}; Bgra32 or Rgba32 is needed."),
        };
        var result = new RgbImage(h, w);
        byte[] rgb = result.Pixels;
        for (int y = 0; y < h; y++)
        {
            ReadOnlySpan<byte> source = pixels.Slice(y * stride, w * 4);
            int o = y * w * 3;
            for (int x = 0; x < w; x++, o += 3)
            {
                rgb[o] = source[(4 * x) + r];
                rgb[o + 1] = source[(4 * x) + 1];
                rgb[o + 2] = source[(4 * x) + b];
            }
        }

        return result;
    }
}

/// <summary>Schema errors in one style: they name the column, the expected type and what was found.</summary>
internal static class SchemaErrors
{
    public static ArgumentOutOfRangeException Missing(string column, string expected) =>
        new("inputSchema", $"Column '{column}' not found in the input schema; expected a column of type {expected}.");

    public static ArgumentOutOfRangeException WrongType(string column, string expected, object found) =>
        new("inputSchema", $"Column '{column}' has type {found}; expected {expected}.");

    public static string Describe(SchemaShape.Column column)
    {
        string item = column.IsKey ? $"Key<{column.ItemType}>" : $"{column.ItemType}";
        return column.Kind switch
        {
            SchemaShape.Column.VectorKind.Vector => $"Vector<{item}>",
            SchemaShape.Column.VectorKind.VariableVector => $"VarVector<{item}>",
            _ => item,
        };
    }
}
