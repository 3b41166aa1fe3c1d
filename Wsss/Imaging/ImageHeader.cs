using System.Buffers.Binary;
using SkiaSharp;

namespace Wsss.Imaging;

/// <summary>
/// Reads the pixel size of an image file from its header, without decoding the pixels, so that a dataset can be
/// validated (masks the same size as their images) in a fraction of the decode time. The size is the one
/// <see cref="ImageCodec.Decode(string)"/> returns: after the EXIF orientation, so a JPEG stored 640x480 with
/// orientation 6 (rotated 90 degrees) is 640 high and 480 wide. PNG and JPEG are parsed here; other formats
/// (WebP, BMP, GIF) through SkiaSharp's header reader.
/// </summary>
public static class ImageHeader
{
    /// <summary>
    /// The size of the image at <paramref name="path"/> (PNG from IHDR, JPEG from the first SOF marker and its EXIF
    /// orientation, other formats from SkiaSharp's codec); the format is recognised from the file's first bytes,
    /// not its extension.
    /// </summary>
    /// <exception cref="ImageFormatException">The file is no image format SkiaSharp decodes, or its header is truncated or corrupt.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static (int Height, int Width) ReadSize(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
        return ReadSize(fs, path);
    }

    /// <summary>
    /// The size of an image read from <paramref name="stream"/> (positioned at its start). Formats other than PNG and
    /// JPEG need a seekable stream.
    /// </summary>
    /// <exception cref="ImageFormatException">The data is no image format SkiaSharp decodes, or its header is truncated or corrupt.</exception>
    public static (int Height, int Width) ReadSize(Stream stream, string sourceName = "<stream>")
    {
        ArgumentNullException.ThrowIfNull(stream);
        long start = stream.CanSeek ? stream.Position : -1;
        Span<byte> head = stackalloc byte[24];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (n >= 2 && head[0] == 0xFF && head[1] == 0xD8)
        {
            return ReadJpegSize(head[..n], stream, sourceName);
        }

        if (n >= 8 && head[..8].SequenceEqual((ReadOnlySpan<byte>)[137, 80, 78, 71, 13, 10, 26, 10]))
        {
            if (n < 24 || !head.Slice(12, 4).SequenceEqual("IHDR"u8))
            {
                throw new ImageFormatException(sourceName, "PNG header is truncated or does not start with IHDR.");
            }

            uint w = BinaryPrimitives.ReadUInt32BigEndian(head[16..]);
            uint h = BinaryPrimitives.ReadUInt32BigEndian(head[20..]);
            if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue)
            {
                throw new ImageFormatException(sourceName, $"PNG has an invalid size {w}x{h}.");
            }

            return ((int)h, (int)w);
        }

        if (start < 0)
        {
            throw new ImageFormatException(sourceName, "neither a PNG nor a JPEG file, and the stream cannot seek back to let SkiaSharp read another format's header.");
        }

        stream.Position = start;
        return ReadOtherSize(stream, sourceName);
    }

    private static (int Height, int Width) ReadOtherSize(Stream stream, string source)
    {
        using var managed = new SKManagedStream(stream, disposeManagedStream: false);
        using SKCodec? codec = SKCodec.Create(managed, out SKCodecResult result);
        if (codec is null)
        {
            throw new ImageFormatException(source, result == SKCodecResult.IncompleteInput
                ? "truncated (IncompleteInput): the data ends inside the image's header."
                : "not an image format SkiaSharp decodes (JPEG, PNG, WebP, BMP, GIF): unrecognised signature.");
        }

        SKImageInfo info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0)
        {
            throw new ImageFormatException(source, $"{codec.EncodedFormat} header gives an invalid size {info.Width}x{info.Height}.");
        }

        return Transposes(codec.EncodedOrigin) ? (info.Width, info.Height) : (info.Height, info.Width);
    }

    // EXIF orientations 5-8 store the picture transposed; decoding turns it, swapping height and width.
    private static bool Transposes(SKEncodedOrigin origin) =>
        origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>The EXIF orientation tag (1-8) of an APP1 segment body, or 1 when it is not Exif or has none.</summary>
    private static int ExifOrientation(ReadOnlySpan<byte> body)
    {
        // "Exif\0\0", then a TIFF header (byte order, 42, offset of IFD0), IFD0's entry count and 12-byte entries.
        if (body.Length < 14 || !body[..6].SequenceEqual("Exif\0\0"u8))
        {
            return 1;
        }

        ReadOnlySpan<byte> tiff = body[6..];
        bool little = tiff[0] == 'I' && tiff[1] == 'I';
        if (!little && !(tiff[0] == 'M' && tiff[1] == 'M'))
        {
            return 1;
        }

        uint ifd = little ? BinaryPrimitives.ReadUInt32LittleEndian(tiff[4..]) : BinaryPrimitives.ReadUInt32BigEndian(tiff[4..]);
        if (ifd > (uint)(tiff.Length - 2))
        {
            return 1;
        }

        int count = U16(tiff, (int)ifd, little);
        for (int e = 0; e < count; e++)
        {
            int at = (int)ifd + 2 + (12 * e);
            if (at + 12 > tiff.Length)
            {
                break;
            }

            if (U16(tiff, at, little) == 0x0112)
            {
                // A SHORT value lies in the first two bytes of the entry's value field.
                int value = U16(tiff, at + 8, little);
                return value is >= 1 and <= 8 ? value : 1;
            }
        }

        return 1;
    }

    private static ushort U16(ReadOnlySpan<byte> data, int at, bool little) =>
        little ? BinaryPrimitives.ReadUInt16LittleEndian(data[at..]) : BinaryPrimitives.ReadUInt16BigEndian(data[at..]);

    private static (int Height, int Width) ReadJpegSize(ReadOnlySpan<byte> head, Stream stream, string source)
    {
        // Markers are read from a small buffer that starts with what was already read; segment bodies we
        // do not need are skipped by seeking (or reading) past them.
        var reader = new ByteReader(head[2..].ToArray(), stream, source);
        int orientation = 1;
        while (true)
        {
            int b = reader.Next();
            if (b != 0xFF)
            {
                throw new ImageFormatException(source, $"JPEG is corrupt: expected a marker, found byte 0x{b:X2}.");
            }

            int marker;
            do
            {
                marker = reader.Next(); // 0xFF fill bytes may precede a marker
            }
            while (marker == 0xFF);

            if (marker is 0xD8 or 0x01 or (>= 0xD0 and <= 0xD7))
            {
                continue; // stand-alone markers without a length
            }

            if (marker is 0xD9 or 0xDA)
            {
                throw new ImageFormatException(source, "JPEG has no frame header (SOF) before its scan data.");
            }

            int length = (reader.Next() << 8) | reader.Next();
            if (length < 2)
            {
                throw new ImageFormatException(source, $"JPEG segment 0xFF{marker:X2} has an invalid length {length}.");
            }

            bool isFrame = marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC;
            if (isFrame)
            {
                if (length < 7)
                {
                    throw new ImageFormatException(source, "JPEG frame header is too short.");
                }

                reader.Next(); // sample precision
                int h = (reader.Next() << 8) | reader.Next();
                int w = (reader.Next() << 8) | reader.Next();
                if (h == 0 || w == 0)
                {
                    // Height 0 means "defined by a later DNL marker", which almost no file uses.
                    throw new ImageFormatException(source, $"JPEG frame header gives size {w}x{h}; a zero size (DNL) is not supported.");
                }

                return orientation is >= 5 and <= 8 ? (w, h) : (h, w);
            }

            if (marker == 0xE1 && orientation == 1)
            {
                // APP1: an Exif segment says how the stored picture is turned (as ImageCodec.Decode applies it).
                var body = new byte[length - 2];
                for (int i = 0; i < body.Length; i++)
                {
                    body[i] = (byte)reader.Next();
                }

                orientation = ExifOrientation(body);
                continue;
            }

            reader.Skip(length - 2);
        }
    }

    private sealed class ByteReader(byte[] initial, Stream stream, string source)
    {
        private int _pos;

        public int Next()
        {
            if (_pos < initial.Length)
            {
                return initial[_pos++];
            }

            int b = stream.ReadByte();
            if (b < 0)
            {
                throw new ImageFormatException(source, "JPEG is truncated before its frame header (SOF).");
            }

            return b;
        }

        public void Skip(int count)
        {
            int fromBuffer = Math.Min(count, initial.Length - _pos);
            _pos += fromBuffer;
            count -= fromBuffer;
            if (count == 0)
            {
                return;
            }

            if (stream.CanSeek)
            {
                if (stream.Position + count > stream.Length)
                {
                    throw new ImageFormatException(source, "JPEG is truncated before its frame header (SOF).");
                }

                stream.Seek(count, SeekOrigin.Current);
                return;
            }

            Span<byte> sink = stackalloc byte[256];
            while (count > 0)
            {
                int r = stream.Read(sink[..Math.Min(count, sink.Length)]);
                if (r <= 0)
                {
                    throw new ImageFormatException(source, "JPEG is truncated before its frame header (SOF).");
                }

                count -= r;
            }
        }
    }
}
