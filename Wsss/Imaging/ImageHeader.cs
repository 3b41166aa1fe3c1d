using System.Buffers.Binary;

namespace Wsss.Imaging;

/// <summary>
/// Reads the pixel size of a PNG or JPEG file from its header, without decoding the pixels, so that a
/// dataset can be validated (masks the same size as their images) in a fraction of the decode time.
/// </summary>
public static class ImageHeader
{
    /// <summary>
    /// The size of the PNG (from IHDR) or JPEG (from the first SOF marker) at <paramref name="path"/>;
    /// the format is recognised from the file's first bytes, not its extension.
    /// </summary>
    /// <exception cref="ImageFormatException">The file is neither PNG nor JPEG, or its header is truncated or corrupt.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static (int Height, int Width) ReadSize(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
        return ReadSize(fs, path);
    }

    /// <summary>The size of a PNG or JPEG read from <paramref name="stream"/> (positioned at its start).</summary>
    /// <exception cref="ImageFormatException">The data is neither PNG nor JPEG, or its header is truncated or corrupt.</exception>
    public static (int Height, int Width) ReadSize(Stream stream, string sourceName = "<stream>")
    {
        ArgumentNullException.ThrowIfNull(stream);
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

        throw new ImageFormatException(sourceName, "neither a PNG nor a JPEG file (unrecognised signature).");
    }

    private static (int Height, int Width) ReadJpegSize(ReadOnlySpan<byte> head, Stream stream, string source)
    {
        // Markers are read from a small buffer that starts with what was already read; segment bodies we
        // do not need are skipped by seeking (or reading) past them.
        var reader = new ByteReader(head[2..].ToArray(), stream, source);
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

                return (h, w);
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
