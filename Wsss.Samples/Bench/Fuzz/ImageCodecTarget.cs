using System.Buffers.Binary;
using CsCheck;
using SkiaSharp;
using Wsss.Imaging;

namespace Wsss.Samples.Bench.Fuzz;

/// <summary>
/// <see cref="ImageCodec.Decode(string)"/>: small RGB images as PNG, BMP, lossless WebP and JPEG; damaged by
/// bytes, by absurd header fields (sizes, bit counts, offsets) and, for PNG, by CRC-preserving chunk edits.
/// Lossless formats must decode to the very pixels; JPEG to the size and nearly the pixels.
/// </summary>
internal sealed class ImageCodecTarget : FuzzTarget
{
    public override string Name => "image";

    public override Type DocumentedException => typeof(ImageFormatException);

    private enum Format
    {
        Png,
        Bmp,
        Webp,
        Jpeg,
    }

    private static Gen<RgbImage> ImageGen { get; } = Gen.Select(Gen.Int[1, 32], Gen.Int[1, 32], Gen.UInt).Select((h, w, seed) =>
    {
        var random = new Random((int)seed);
        var image = new RgbImage(h, w);
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                // Gradients plus a little noise: JPEG keeps them close, so its check can be tight.
                image[y, x] = ((byte)((x * 8) + random.Next(8)), (byte)((y * 8) + random.Next(8)), (byte)(((x + y) * 4) + random.Next(8)));
            }
        }

        return image;
    });

    private static byte[] Encode(RgbImage image, Format format) => format switch
    {
        Format.Png => ImageCodec.EncodePng(image),
        Format.Bmp => Bmp24(image),
        Format.Webp => EncodeWithSkia(image, SKEncodedImageFormat.Webp),
        _ => EncodeWithSkia(image, SKEncodedImageFormat.Jpeg),
    };

    private static string FileName(Format format) => format switch
    {
        Format.Png => "image.png",
        Format.Bmp => "image.bmp",
        Format.Webp => "image.webp",
        _ => "image.jpg",
    };

    /// <summary>Absurd values over the size, depth, offset and length fields of each format's header.</summary>
    private static Gen<Mutation> HeaderFields(Format format) => format switch
    {
        Format.Bmp => Mutations.HeaderFields((2, 4, false), (10, 4, false), (14, 4, false), (18, 4, false), (22, 4, false), (26, 2, false), (28, 2, false), (30, 4, false), (34, 4, false), (46, 4, false)),
        Format.Webp => Mutations.HeaderFields((4, 4, false), (16, 4, false), (21, 4, false), (21, 2, false), (23, 2, false)),
        Format.Jpeg => Gen.Select(Gen.Int[0, 3], Gen.OneOf(Mutations.AbsurdIntegers)).Select((field, value) => (Mutation)new JpegSofField(field, value)),
        _ => Mutations.HeaderFields((8, 4, true), (16, 4, true), (20, 4, true)),
    };

    public override Gen<FuzzCase> Cases { get; } =
        Gen.Select(ImageGen, Gen.OneOf(Enum.GetValues<Format>()), Gen.Int[0, 9], Mutations.Bytes, Gen.Int[0, 1000], PngMaskTarget.ChunkDamage)
            .SelectMany((image, format, mode, bytes, pick, chunk) => HeaderFields(format).Select(header =>
            {
                byte[] encoded = Encode(image, format);
                string name = FileName(format);
                if (mode == 0)
                {
                    return new FuzzCase([new FuzzFile(name, encoded)], name, "none", Expect(image, format));
                }

                if (mode <= 4)
                {
                    return new FuzzCase([new FuzzFile(name, bytes.Apply(encoded))], name, $"{format}: {bytes}");
                }

                if (format == Format.Png && mode >= 8)
                {
                    return new FuzzCase([new FuzzFile(name, PngMaskTarget.Assemble(chunk.Edit(PngMaskTarget.Chunks(encoded))))], name, $"{format}: {chunk.What}");
                }

                return new FuzzCase([new FuzzFile(name, header.Apply(encoded))], name, $"{format}: {header}");
            }));

    private static Func<object, string?> Expect(RgbImage expected, Format format) => value =>
    {
        var image = (RgbImage)value;
        if (image.Height != expected.Height || image.Width != expected.Width)
        {
            return $"{image.Height}x{image.Width}, expected {expected.Height}x{expected.Width}";
        }

        if (format != Format.Jpeg)
        {
            int first = Enumerable.Range(0, expected.Pixels.Length).FirstOrDefault(i => image.Pixels[i] != expected.Pixels[i], -1);
            return first < 0 ? null : $"byte {first} is {image.Pixels[first]}, expected {expected.Pixels[first]}";
        }

        double error = image.Pixels.Zip(expected.Pixels).Average(p => Math.Abs(p.First - p.Second));
        return error <= 40 ? null : $"JPEG pixels differ by {error:F1} on average";
    };

    public override (object Value, long Bytes) Read(string directory)
    {
        string path = Directory.EnumerateFiles(directory).Single();
        RgbImage image = ImageCodec.Decode(path);
        return (image, image.Pixels.LongLength);
    }

    public override string? Invariant(object value)
    {
        var image = (RgbImage)value;
        return image.Pixels.LongLength == (long)image.Height * image.Width * 3 ? null : $"{image.Pixels.Length} bytes for {image.Height}x{image.Width}";
    }

    private static byte[] Bmp24(RgbImage image)
    {
        int stride = ((image.Width * 3) + 3) & ~3;
        int pixelBytes = stride * image.Height;
        var bmp = new byte[54 + pixelBytes];
        bmp[0] = (byte)'B';
        bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), image.Width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), image.Height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(34), pixelBytes);
        for (int y = 0; y < image.Height; y++)
        {
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image[y, x];
                int o = 54 + ((image.Height - 1 - y) * stride) + (x * 3);
                (bmp[o], bmp[o + 1], bmp[o + 2]) = (b, g, r);
            }
        }

        return bmp;
    }

    /// <summary>Encodes with SkiaSharp: JPEG or PNG at <paramref name="quality"/>, WebP lossless. The tests' image helpers use it too.</summary>
    internal static unsafe byte[] EncodeWithSkia(RgbImage image, SKEncodedImageFormat format, int quality = 90)
    {
        var rgba = new byte[image.Height * image.Width * 4];
        for (int i = 0; i < image.Height * image.Width; i++)
        {
            (rgba[i * 4], rgba[(i * 4) + 1], rgba[(i * 4) + 2], rgba[(i * 4) + 3]) = (image.Pixels[i * 3], image.Pixels[(i * 3) + 1], image.Pixels[(i * 3) + 2], 255);
        }

        fixed (byte* p = rgba)
        {
            using var pixmap = new SKPixmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul), (nint)p, image.Width * 4);
            using SKData? data = format == SKEncodedImageFormat.Webp
                ? pixmap.Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossless, 100))
                : pixmap.Encode(format, quality);
            return data?.ToArray() ?? throw new InvalidOperationException($"SkiaSharp did not encode {format}.");
        }
    }
}

/// <summary>An absurd value in the first JPEG frame header (SOFn): 0 precision, 1 height, 2 width, 3 component count.</summary>
internal sealed record JpegSofField(int Field, ulong Value) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        byte[] output = (byte[])input.Clone();
        for (int i = 2; i + 9 < output.Length; i++)
        {
            if (output[i] == 0xFF && output[i + 1] is >= 0xC0 and <= 0xC3)
            {
                switch (Field)
                {
                    case 0: output[i + 4] = (byte)Value; break;
                    case 1: BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(i + 5), (ushort)Value); break;
                    case 2: BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(i + 7), (ushort)Value); break;
                    default: output[i + 9] = (byte)Value; break;
                }

                break;
            }
        }

        return output;
    }

    public override string ToString() => $"JPEG SOF field {Field} = {Value}";
}
