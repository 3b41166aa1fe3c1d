using System.Buffers;
using SkiaSharp;

namespace Wsss.Imaging;

/// <summary>
/// Decodes JPEG, PNG, WebP, BMP and GIF (first frame) into <see cref="RgbImage"/>, and writes PNG, through
/// SkiaSharp (the library ML.NET's MLImage is built on).
/// </summary>
/// <remarks>
/// <para>
/// Decoding applies the EXIF orientation (all eight), so a photo taken on its side comes out upright.
/// Alpha is ignored: each pixel keeps its stored colour whatever its opacity, as OpenCV's IMREAD_COLOR
/// did before, so that models trained on those pixels see the same ones. Grey, palette and 16-bit PNGs
/// decode to RGB (a palette PNG to its colours: read label masks with <see cref="PalettePng"/>, which
/// keeps the indices). No colour management: embedded ICC profiles are not applied.
/// </para>
/// <para>
/// Every failure names the file: an empty, truncated, corrupt or unsupported file raises
/// <see cref="ImageFormatException"/> with the reason (a truncated JPEG is an error, not a half-grey
/// image). Writing is atomic (temporary file, then rename), so an existing file is never left half-written.
/// </para>
/// </remarks>
public static class ImageCodec
{
    /// <summary>Reads and decodes an image file to RGB.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ImageFormatException">The file is empty, truncated, corrupt or not an image; the message names it and says why.</exception>
    /// <exception cref="IOException">The file could not be read; the message names it.</exception>
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
            throw new IOException($"Image file '{path}' could not be read: {e.Message}", e);
        }

        return Decode(bytes, path);
    }

    /// <summary>Decodes encoded image bytes to RGB.</summary>
    /// <param name="data">The file's bytes.</param>
    /// <param name="sourceName">Name used in error messages (a path, a row id); <c>&lt;bytes&gt;</c> when null.</param>
    /// <exception cref="ImageFormatException">The bytes are empty, truncated, corrupt or not an image; the message says why.</exception>
    public static unsafe RgbImage Decode(ReadOnlySpan<byte> data, string? sourceName = null)
    {
        string name = sourceName ?? "<bytes>";
        if (data.IsEmpty)
        {
            throw new ImageFormatException(name, "empty (0 bytes), not an image.");
        }

        using SKData encoded = SKData.CreateCopy(data);
        // The codec takes the stream over (and Skia deletes it at once when no codec is made); disposing
        // the wrapper afterwards is harmless either way.
        using var stream = new SKMemoryStream(encoded);
        using SKCodec? codec = SKCodec.Create(stream, out SKCodecResult opened);
        if (codec is null)
        {
            throw new ImageFormatException(name, OpenFailure(opened));
        }

        SKImageInfo info = codec.Info;
        int width = info.Width, height = info.Height;
        if (width <= 0 || height <= 0)
        {
            throw new ImageFormatException(name, $"the image has an invalid size {width}x{height}.");
        }

        if ((long)width * height * 4 > Array.MaxLength)
        {
            throw new ImageFormatException(name, $"the image is too large to decode ({width}x{height} pixels).");
        }

        // Unpremultiplied RGBA without a colour space: the stored colours as they are, whatever the alpha.
        var target = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        int byteCount = width * height * 4;
        // The decode buffer is zeroed native memory that Skia is told is zeroed: pages it never writes are never
        // touched, so a damaged header that claims a huge image over a few bytes of data costs no memory (a managed
        // array of the claimed size was allocated in full before the decoder found the data missing).
        byte* rgba;
        try
        {
            rgba = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)byteCount);
        }
        catch (OutOfMemoryException e)
        {
            throw new ImageFormatException(name, $"the image is too large to decode ({width}x{height} pixels need {byteCount} bytes).", e);
        }

        try
        {
            SKCodecResult decoded = codec.GetPixels(target, (nint)rgba, width * 4, new SKCodecOptions(SKZeroInitialized.Yes));
            if (decoded != SKCodecResult.Success)
            {
                throw new ImageFormatException(name, DecodeFailure(decoded, codec.EncodedFormat));
            }

            return ToRgb(new ReadOnlySpan<byte>(rgba, byteCount), height, width, codec.EncodedOrigin);
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(rgba);
        }
    }

    /// <summary>Encodes an RGB image as PNG bytes (8-bit RGB, no alpha).</summary>
    /// <param name="image">The image.</param>
    /// <param name="compression">zlib level: 0 (fastest, largest) to 9 (slowest, smallest).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="compression"/> is not 0 to 9.</exception>
    public static unsafe byte[] EncodePng(RgbImage image, int compression = 3)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckCompression(compression);
        int pixels = image.Height * image.Width;
        // Skia has no 24-bit layout; RGB with an unused fourth byte is encoded as a 3-channel PNG.
        byte[] rgbx = ArrayPool<byte>.Shared.Rent(pixels * 4);
        try
        {
            ReadOnlySpan<byte> rgb = image.Pixels;
            for (int i = 0, j = 0; i < pixels; i++, j += 4)
            {
                rgbx[j] = rgb[i * 3];
                rgbx[j + 1] = rgb[(i * 3) + 1];
                rgbx[j + 2] = rgb[(i * 3) + 2];
                rgbx[j + 3] = 255;
            }

            fixed (byte* p = rgbx)
            {
                return EncodePng(new SKImageInfo(image.Width, image.Height, SKColorType.Rgb888x, SKAlphaType.Opaque), p, image.Width * 4, compression);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgbx);
        }
    }

    /// <summary>Encodes an 8-bit single-channel image (height x width bytes, row-major) as a grayscale PNG.</summary>
    /// <exception cref="ArgumentException"><paramref name="pixels"/> is not <paramref name="height"/> x <paramref name="width"/> bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or <paramref name="compression"/> is not 0 to 9.</exception>
    public static unsafe byte[] EncodeGrayPng(ReadOnlySpan<byte> pixels, int height, int width, int compression = 3)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (pixels.Length != (long)height * width)
        {
            throw new ArgumentException($"{pixels.Length} bytes do not make a {height}x{width} grayscale image.", nameof(pixels));
        }

        CheckCompression(compression);
        fixed (byte* p = pixels)
        {
            return EncodePng(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque), p, width, compression);
        }
    }

    /// <summary>Writes an RGB image as a PNG file atomically; creates the folder.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="compression"/> is not 0 to 9.</exception>
    public static void SavePng(RgbImage image, string path, int compression = 3) => AtomicFile.WriteAllBytes(path, EncodePng(image, compression));

    private static void CheckCompression(int compression)
    {
        if (compression is < 0 or > 9)
        {
            throw new ArgumentOutOfRangeException(nameof(compression), compression, "PNG compression is 0 (fastest) to 9 (smallest).");
        }
    }

    private static unsafe byte[] EncodePng(SKImageInfo info, byte* pixels, int rowBytes, int compression)
    {
        using var pixmap = new SKPixmap(info, (nint)pixels, rowBytes);
        using SKData? png = pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.AllFilters, compression));
        return png?.ToArray() ?? throw new InvalidOperationException($"SkiaSharp could not encode a {info.Width}x{info.Height} {info.ColorType} PNG.");
    }

    private static string OpenFailure(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "truncated (IncompleteInput): the data ends inside the image's header.",
        SKCodecResult.Unimplemented or SKCodecResult.InvalidInput =>
            $"not an image in a format this library reads (JPEG, PNG, WebP, BMP, GIF), or its header is corrupt ({result}).",
        _ => $"the image could not be opened ({result}).",
    };

    private static string DecodeFailure(SKCodecResult result, SKEncodedImageFormat encoded)
    {
        string format = encoded switch
        {
            SKEncodedImageFormat.Webp => "WebP",
            SKEncodedImageFormat.Wbmp => "WBMP",
            _ => encoded.ToString().ToUpperInvariant(),
        };
        return result switch
        {
            SKCodecResult.IncompleteInput => $"truncated (IncompleteInput): the {format} data ends before the whole image is decoded.",
            SKCodecResult.ErrorInInput => $"corrupt (ErrorInInput): the {format} data has an error part way through.",
            SKCodecResult.InvalidConversion => $"unsupported {format} pixel format (InvalidConversion): it cannot be converted to RGB.",
            _ => $"the {format} image could not be decoded ({result}).",
        };
    }

    /// <summary>Drops alpha and applies the EXIF orientation in one pass.</summary>
    /// <remarks>
    /// Output pixel (y, x) reads stored pixel <c>origin + y * rowStep + x * columnStep</c>: each orientation
    /// is a start corner and two strides over the stored pixels (EXIF 5 to 8 swap the sides).
    /// </remarks>
    private static RgbImage ToRgb(ReadOnlySpan<byte> rgba, int height, int width, SKEncodedOrigin orientation)
    {
        int last = (height - 1) * width; // first pixel of the stored bottom row
        (int origin, int rowStep, int columnStep, bool swap) = orientation switch
        {
            SKEncodedOrigin.TopRight => (width - 1, width, -1, false), // 2: mirrored left-right
            SKEncodedOrigin.BottomRight => (last + width - 1, -width, -1, false), // 3: rotated 180
            SKEncodedOrigin.BottomLeft => (last, -width, 1, false), // 4: mirrored top-bottom
            SKEncodedOrigin.LeftTop => (0, 1, width, true), // 5: transposed
            SKEncodedOrigin.RightTop => (last, 1, -width, true), // 6: needs 90 degrees clockwise
            SKEncodedOrigin.RightBottom => (last + width - 1, -1, -width, true), // 7: transversed
            SKEncodedOrigin.LeftBottom => (width - 1, -1, width, true), // 8: needs 90 degrees anticlockwise
            _ => (0, width, 1, false), // 1 (TopLeft), and no orientation tag
        };

        var image = swap ? new RgbImage(width, height) : new RgbImage(height, width);
        Span<byte> rgb = image.Pixels;
        int outHeight = image.Height, outWidth = image.Width;
        for (int y = 0, o = 0; y < outHeight; y++)
        {
            int s = origin + (y * rowStep);
            for (int x = 0; x < outWidth; x++, o += 3, s += columnStep)
            {
                int i = s * 4;
                rgb[o] = rgba[i];
                rgb[o + 1] = rgba[i + 1];
                rgb[o + 2] = rgba[i + 2];
            }
        }

        return image;
    }
}
