using Wsss.Interop;

namespace Wsss.Imaging;

/// <summary>
/// Decodes JPEG, PNG, BMP and the other formats OpenCV reads into <see cref="RgbImage"/>, and writes PNG.
/// Every failure names the file. Writing is atomic (temporary file, then rename), so an existing file is
/// never left half-written. Palette (indexed) PNG masks need their indices, not colours: read them with the palette PNG codec.
/// </summary>
public static class ImageCodec
{
    /// <summary>Reads and decodes an image file to RGB.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is empty, corrupt or not an image; the message names it.</exception>
    public static RgbImage Decode(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Image file '{path}' does not exist.", path);
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Image file '{path}' could not be read: {e.Message}", e);
        }

        return Decode(bytes, path);
    }

    /// <summary>Decodes encoded image bytes to RGB.</summary>
    /// <param name="data">The file's bytes.</param>
    /// <param name="sourceName">Name used in error messages (a path, a row id).</param>
    /// <exception cref="InvalidDataException">The bytes are empty, corrupt or not an image.</exception>
    public static unsafe RgbImage Decode(ReadOnlySpan<byte> data, string? sourceName = null)
    {
        string name = sourceName ?? "<bytes>";
        if (data.IsEmpty)
        {
            throw new InvalidDataException($"Image '{name}' is empty (0 bytes).");
        }

        BufferHandle pixels;
        int height, width;
        fixed (byte* p = data)
        {
            int status = NativeMethods.wsss_image_decode(p, data.Length, out pixels, out height, out width);
            if (status != 0)
            {
                pixels.Dispose();
                throw new InvalidDataException($"Image '{name}' could not be decoded: {LastError()}.");
            }
        }

        using (pixels)
        {
            var image = new RgbImage(height, width);
            fixed (byte* d = image.Pixels)
            {
                NativeMethods.Check(NativeMethods.wsss_buffer_copy(pixels, d, image.Pixels.Length));
            }

            return image;
        }
    }

    /// <summary>Encodes an RGB image as PNG bytes.</summary>
    public static byte[] EncodePng(RgbImage image, int compression = 3)
    {
        ArgumentNullException.ThrowIfNull(image);
        return EncodePng(image.Pixels, image.Height, image.Width, 3, compression);
    }

    /// <summary>Encodes an 8-bit single-channel image (height x width bytes) as a grayscale PNG.</summary>
    public static byte[] EncodeGrayPng(ReadOnlySpan<byte> pixels, int height, int width, int compression = 3) =>
        EncodePng(pixels, height, width, 1, compression);

    /// <summary>Writes an RGB image as a PNG file atomically.</summary>
    public static void SavePng(RgbImage image, string path, int compression = 3) => AtomicFile.WriteAllBytes(path, EncodePng(image, compression));

    private static unsafe byte[] EncodePng(ReadOnlySpan<byte> pixels, int height, int width, int channels, int compression)
    {
        if (pixels.Length != (long)height * width * channels)
        {
            throw new ArgumentException($"{pixels.Length} bytes do not make a {height}x{width}x{channels} image.", nameof(pixels));
        }

        if (compression is < 0 or > 9)
        {
            throw new ArgumentOutOfRangeException(nameof(compression), compression, "PNG compression is 0 (fastest) to 9 (smallest).");
        }

        fixed (byte* p = pixels)
        {
            NativeMethods.Check(NativeMethods.wsss_image_encode_png(p, height, width, channels, compression, out BufferHandle png, out long length));
            using (png)
            {
                var bytes = new byte[length];
                fixed (byte* d = bytes)
                {
                    NativeMethods.Check(NativeMethods.wsss_buffer_copy(png, d, length));
                }

                return bytes;
            }
        }
    }

    private static unsafe string LastError() =>
        System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)NativeMethods.wsss_last_error()) ?? "unknown error";
}

/// <summary>Resampling for <see cref="ImageResize"/>.</summary>
public enum ResizeMode
{
    /// <summary>Nearest neighbour (label maps).</summary>
    Nearest = 0,

    /// <summary>Bilinear with pixel-centre alignment (like PyTorch's align_corners=false).</summary>
    Bilinear = 1,

    /// <summary>Pixel-area averaging, the best choice for shrinking photographs.</summary>
    Area = 2,
}

/// <summary>Resizing of images and label maps.</summary>
public static class ImageResize
{
    /// <summary>Returns <paramref name="image"/> resized to <paramref name="height"/> x <paramref name="width"/>.</summary>
    public static RgbImage Resize(this RgbImage image, int height, int width, ResizeMode mode = ResizeMode.Bilinear)
    {
        ArgumentNullException.ThrowIfNull(image);
        var result = new RgbImage(height, width);
        Resize(image.Pixels, image.Height, image.Width, 3, result.Pixels, height, width, mode);
        return result;
    }

    /// <summary>Resizes a single-channel byte map (e.g. class labels, always use <see cref="ResizeMode.Nearest"/> for those).</summary>
    public static byte[] ResizePlane(ReadOnlySpan<byte> plane, int height, int width, int outHeight, int outWidth, ResizeMode mode = ResizeMode.Nearest)
    {
        var result = new byte[checked(outHeight * outWidth)];
        Resize(plane, height, width, 1, result, outHeight, outWidth, mode);
        return result;
    }

    private static unsafe void Resize(ReadOnlySpan<byte> source, int height, int width, int channels, Span<byte> destination, int outHeight, int outWidth, ResizeMode mode)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outHeight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outWidth);
        if (source.Length != (long)height * width * channels)
        {
            throw new ArgumentException($"{source.Length} bytes do not make a {height}x{width}x{channels} image.", nameof(source));
        }

        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            NativeMethods.Check(NativeMethods.wsss_image_resize(s, height, width, channels, d, outHeight, outWidth, (int)mode));
        }
    }
}
