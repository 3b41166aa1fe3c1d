namespace Wsss.Imaging;

/// <summary>
/// A per-pixel label map: height x width bytes, row-major. Value 0 is background, <c>c + 1</c> is
/// foreground class <c>c</c>, and <see cref="Ignore"/> (255) marks pixels that carry no label (object
/// boundaries in PASCAL VOC, unreliable pixels in seeds). Ground-truth masks, seeds, pseudo masks and
/// predictions all use this type. It lives in <c>Wsss.Imaging</c> next to <see cref="RgbImage"/> because
/// the PNG codec produces and consumes it.
/// </summary>
public sealed class SegmentationMask
{
    /// <summary>The label of pixels that are ignored by losses and evaluation.</summary>
    public const byte Ignore = 255;

    /// <summary>Creates a mask of the given size filled with <paramref name="fill"/> (background by default).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive.</exception>
    public SegmentationMask(int height, int width, byte fill = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        Height = height;
        Width = width;
        Labels = new byte[checked(height * width)];
        if (fill != 0)
        {
            Array.Fill(Labels, fill);
        }
    }

    /// <summary>Wraps an existing buffer of exactly <c>height * width</c> bytes (not copied).</summary>
    /// <exception cref="ArgumentException">The buffer length does not match the size.</exception>
    public SegmentationMask(int height, int width, byte[] labels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != (long)height * width)
        {
            throw new ArgumentException(
                $"A mask of {height}x{width} needs {(long)height * width} bytes, the buffer has {labels.Length}.",
                nameof(labels));
        }

        Height = height;
        Width = width;
        Labels = labels;
    }

    /// <summary>Number of rows.</summary>
    public int Height { get; }

    /// <summary>Number of columns.</summary>
    public int Width { get; }

    /// <summary>The labels, row-major, one byte per pixel (0 background, c+1 class c, 255 ignore).</summary>
    public byte[] Labels { get; }

    /// <summary>Reads or writes the label at (<paramref name="y"/>, <paramref name="x"/>).</summary>
    public byte this[int y, int x]
    {
        get => Labels[(y * Width) + x];
        set => Labels[(y * Width) + x] = value;
    }

    /// <summary>A deep copy.</summary>
    public SegmentationMask Clone() => new(Height, Width, (byte[])Labels.Clone());

    /// <summary>
    /// The foreground classes (0-based, i.e. label - 1) that have at least <paramref name="minPixels"/>
    /// pixels, in increasing order. Background and ignored pixels are not counted.
    /// </summary>
    public int[] ForegroundClasses(int minPixels = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minPixels);
        Span<int> counts = stackalloc int[256];
        counts.Clear();
        foreach (byte v in Labels)
        {
            counts[v]++;
        }

        var result = new List<int>();
        for (int v = 1; v < Ignore; v++)
        {
            if (counts[v] >= minPixels)
            {
                result.Add(v - 1);
            }
        }

        return result.ToArray();
    }
}
