namespace Wsss.Imaging;

/// <summary>
/// An 8-bit RGB image stored row-major as height x width x 3 bytes (R, G, B interleaved). The pixel
/// buffer is owned by the image; the class is the common currency between decoding, augmentation,
/// the dense CRF and the tensor world.
/// </summary>
public sealed class RgbImage
{
    /// <summary>Creates a black image of the given size.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive.</exception>
    public RgbImage(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        Height = height;
        Width = width;
        Pixels = new byte[checked(height * width * 3)];
    }

    /// <summary>Wraps an existing buffer of exactly <c>height * width * 3</c> bytes (not copied).</summary>
    /// <exception cref="ArgumentException">The buffer length does not match the size.</exception>
    public RgbImage(int height, int width, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.Length != (long)height * width * 3)
        {
            throw new ArgumentException(
                $"An RGB image of {height}x{width} needs {(long)height * width * 3} bytes, the buffer has {pixels.Length}.",
                nameof(pixels));
        }

        Height = height;
        Width = width;
        Pixels = pixels;
    }

    /// <summary>Number of rows.</summary>
    public int Height { get; }

    /// <summary>Number of columns.</summary>
    public int Width { get; }

    /// <summary>The pixels, row-major, 3 bytes (R, G, B) per pixel.</summary>
    public byte[] Pixels { get; }

    /// <summary>Reads the pixel at (<paramref name="y"/>, <paramref name="x"/>).</summary>
    public (byte R, byte G, byte B) this[int y, int x]
    {
        get
        {
            int i = ((y * Width) + x) * 3;
            return (Pixels[i], Pixels[i + 1], Pixels[i + 2]);
        }

        set
        {
            int i = ((y * Width) + x) * 3;
            Pixels[i] = value.R;
            Pixels[i + 1] = value.G;
            Pixels[i + 2] = value.B;
        }
    }

    /// <summary>A deep copy.</summary>
    public RgbImage Clone() => new(Height, Width, (byte[])Pixels.Clone());
}
