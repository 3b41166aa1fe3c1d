using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;
using Wsss.Imaging;

namespace Wsss.Tests.Imaging;

/// <summary>Image files built byte by byte (or by SkiaSharp's encoders), so each test knows exactly what a file holds.</summary>
internal static class TestImages
{
    /// <summary>
    /// A non-interlaced PNG from raw scanlines (each row's bytes without the filter byte, big-endian
    /// samples for 16 bits); <paramref name="palette"/> becomes PLTE when given.
    /// </summary>
    public static byte[] Png(int width, int height, int bitDepth, int colorType, byte[][] rows, byte[]? palette = null)
    {
        using var output = new MemoryStream();
        output.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colorType;
        Chunk(output, "IHDR", ihdr);
        if (palette is not null)
        {
            Chunk(output, "PLTE", palette);
        }

        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            {
                foreach (byte[] row in rows)
                {
                    z.WriteByte(0); // filter: none
                    z.Write(row);
                }
            }

            Chunk(output, "IDAT", compressed.ToArray());
        }

        Chunk(output, "IEND", []);
        return output.ToArray();
    }

    private static void Chunk(Stream output, string type, byte[] data)
    {
        var word = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        byte[] typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        output.Write(typeBytes);
        output.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Start, typeBytes), data)));
        output.Write(word);
    }

    /// <summary>A 24-bit uncompressed BMP (BITMAPINFOHEADER); rows bottom-up unless <paramref name="topDown"/> (negative height).</summary>
    public static byte[] Bmp24(RgbImage image, bool topDown = false)
    {
        int stride = ((image.Width * 3) + 3) & ~3; // rows are padded to 4 bytes
        int pixelBytes = stride * image.Height;
        var bmp = new byte[54 + pixelBytes];
        bmp[0] = (byte)'B';
        bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54); // pixel data offset
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40); // BITMAPINFOHEADER size
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), image.Width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), topDown ? -image.Height : image.Height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1); // planes
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24); // bits per pixel
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(34), pixelBytes);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(38), 2835); // 72 dpi
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(42), 2835);
        for (int y = 0; y < image.Height; y++)
        {
            int fileRow = topDown ? y : image.Height - 1 - y;
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image[y, x];
                int o = 54 + (fileRow * stride) + (x * 3);
                (bmp[o], bmp[o + 1], bmp[o + 2]) = (b, g, r); // BMP stores BGR
            }
        }

        return bmp;
    }

    /// <summary>Encodes with SkiaSharp: JPEG (quality), lossless WebP (quality is ignored) or PNG.</summary>
    public static byte[] EncodeWithSkia(RgbImage image, SKEncodedImageFormat format, int quality = 95) =>
        Wsss.Samples.Bench.Fuzz.ImageCodecTarget.EncodeWithSkia(image, format, quality);

    /// <summary>
    /// Inserts an APP1 Exif segment right after the JPEG's SOI marker whose only IFD0 entry is
    /// Orientation (tag 0x0112, SHORT) = <paramref name="orientation"/>, in big-endian ("MM") or
    /// little-endian ("II") TIFF byte order.
    /// </summary>
    public static byte[] WithExifOrientation(byte[] jpeg, int orientation, bool bigEndian = true)
    {
        if (jpeg.Length < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8)
        {
            throw new ArgumentException("not a JPEG stream", nameof(jpeg));
        }

        var tiff = new byte[8 + 2 + 12 + 4];
        void U16(int at, int v)
        {
            if (bigEndian)
            {
                BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(at), (ushort)v);
            }
            else
            {
                BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(at), (ushort)v);
            }
        }

        void U32(int at, uint v)
        {
            if (bigEndian)
            {
                BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(at), v);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(at), v);
            }
        }

        tiff[0] = tiff[1] = (byte)(bigEndian ? 'M' : 'I');
        U16(2, 42);
        U32(4, 8); // IFD0 right after the header
        U16(8, 1); // one entry
        U16(10, 0x0112); // Orientation
        U16(12, 3); // SHORT
        U32(14, 1); // one value, stored in the first two bytes of the value field
        U16(18, orientation);
        U32(22, 0); // no next IFD

        byte[] exifHeader = "Exif\0\0"u8.ToArray();
        int segmentLength = 2 + exifHeader.Length + tiff.Length; // the length field counts itself
        var result = new List<byte>(jpeg.Length + segmentLength + 2) { 0xFF, 0xD8, 0xFF, 0xE1, (byte)(segmentLength >> 8), (byte)segmentLength };
        result.AddRange(exifHeader);
        result.AddRange(tiff);
        result.AddRange(jpeg.AsSpan(2).ToArray());
        return [.. result];
    }
}
