using System.Buffers.Binary;
using System.IO.Compression;

namespace Wsss.Imaging;

/// <summary>
/// A PNG decoded to its raw sample values without any colour conversion: for an indexed (palette) PNG
/// the palette indices, for a grayscale PNG the gray levels. PASCAL VOC masks are palette PNGs whose
/// indices are the class ids (255 = ignore), so <see cref="ToMask"/> gives the label map directly.
/// </summary>
public sealed class IndexedImage
{
    /// <summary>Creates the image; the buffers are not copied.</summary>
    /// <exception cref="ArgumentException">The index buffer does not hold height x width bytes, or the palette is not RGB triples.</exception>
    public IndexedImage(int height, int width, byte[] indices, byte[] palette, bool isGrayscale, int bitDepth)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(palette);
        if (indices.Length != (long)height * width)
        {
            throw new ArgumentException($"{height}x{width} needs {(long)height * width} indices, got {indices.Length}.", nameof(indices));
        }

        if (palette.Length % 3 != 0)
        {
            throw new ArgumentException("The palette must hold RGB triples.", nameof(palette));
        }

        Height = height;
        Width = width;
        Indices = indices;
        Palette = palette;
        IsGrayscale = isGrayscale;
        BitDepth = bitDepth;
    }

    /// <summary>Number of rows.</summary>
    public int Height { get; }

    /// <summary>Number of columns.</summary>
    public int Width { get; }

    /// <summary>Row-major sample values: palette indices, or gray levels (unscaled, 0..2^BitDepth-1) for grayscale files.</summary>
    public byte[] Indices { get; }

    /// <summary>The palette as RGB triples (3 bytes per entry); empty for grayscale files.</summary>
    public byte[] Palette { get; }

    /// <summary>True when the file was grayscale (colour type 0) rather than indexed (colour type 3).</summary>
    public bool IsGrayscale { get; }

    /// <summary>The file's bit depth (1, 2, 4 or 8).</summary>
    public int BitDepth { get; }

    /// <summary>The indices as a label map; the mask shares (does not copy) <see cref="Indices"/>.</summary>
    public SegmentationMask ToMask() => new(Height, Width, Indices);
}

/// <summary>
/// The standard PASCAL VOC colormap: entry i gets the bits of i interleaved into the high bits of R, G
/// and B (bit 0 of i to R's bit 7, bit 1 to G's bit 7, bit 2 to B's bit 7, bit 3 to R's bit 6, ...), so
/// 0 is black, 1 dark red (128, 0, 0), 15 person (192, 128, 128) and 255 (ignore) is (224, 224, 192).
/// </summary>
public static class VocPalette
{
    private static readonly byte[] Table = Build();

    /// <summary>The 256 colours as 768 bytes (R, G, B per entry).</summary>
    public static ReadOnlySpan<byte> Rgb => Table;

    /// <summary>The colour of entry <paramref name="index"/>.</summary>
    public static (byte R, byte G, byte B) Color(byte index) => (Table[index * 3], Table[(index * 3) + 1], Table[(index * 3) + 2]);

    private static byte[] Build()
    {
        var table = new byte[256 * 3];
        for (int i = 0; i < 256; i++)
        {
            int r = 0, g = 0, b = 0, c = i;
            for (int j = 0; j < 8; j++)
            {
                r |= (c & 1) << (7 - j);
                g |= ((c >> 1) & 1) << (7 - j);
                b |= ((c >> 2) & 1) << (7 - j);
                c >>= 3;
            }

            table[i * 3] = (byte)r;
            table[(i * 3) + 1] = (byte)g;
            table[(i * 3) + 2] = (byte)b;
        }

        return table;
    }
}

/// <summary>
/// Reads and writes indexed PNGs as raw indices, in managed code. Decoding accepts colour type 3
/// (palette) and colour type 0 (grayscale), bit depths 1, 2, 4 and 8, all five filter types and Adam7
/// interlacing; every chunk's CRC is checked. Encoding writes 8-bit palette PNGs (by default with the
/// <see cref="VocPalette"/>), choosing a filter per row. Indices beyond the palette's length are
/// returned as they are (masks are read for their indices, not their colours).
/// </summary>
public static class PalettePng
{
    /// <summary>The largest expansion deflate can achieve (258-byte matches at about 2 bits each).</summary>
    private const long MaxDeflateRatio = 1032;

    private static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    private static readonly (int X0, int Y0, int Dx, int Dy)[] Adam7 =
    [
        (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2),
    ];

    /// <summary>Decodes the PNG file at <paramref name="path"/>.</summary>
    /// <exception cref="ImageFormatException">The file is not a PNG, is corrupt or truncated, or has an unsupported colour type or bit depth (the message says which).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static IndexedImage Decode(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>Decodes a PNG held in memory; <paramref name="sourceName"/> names it in error messages.</summary>
    /// <exception cref="ImageFormatException">The data is not a readable PNG (the message says why).</exception>
    public static IndexedImage Decode(ReadOnlySpan<byte> png, string sourceName = "<memory>")
    {
        Header header = default;
        bool haveHeader = false, haveEnd = false;
        byte[] palette = [];
        using var idat = new MemoryStream();
        int pos = Signature.Length;

        if (png.Length < Signature.Length || !png[..Signature.Length].SequenceEqual(Signature))
        {
            throw new ImageFormatException(sourceName, "not a PNG file (bad signature).");
        }

        while (!haveEnd)
        {
            if (png.Length - pos < 12)
            {
                throw new ImageFormatException(sourceName, $"PNG is truncated (file ends at byte {png.Length} inside or before a chunk; no IEND).");
            }

            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[pos..]);
            ReadOnlySpan<byte> typeBytes = png.Slice(pos + 4, 4);
            string type = System.Text.Encoding.ASCII.GetString(typeBytes);
            if (length > int.MaxValue || png.Length - pos - 12 < (long)length)
            {
                throw new ImageFormatException(sourceName, $"PNG is truncated (chunk '{type}' at byte {pos} declares {length} bytes, the file has {Math.Max(0, png.Length - pos - 12)} left).");
            }

            ReadOnlySpan<byte> data = png.Slice(pos + 8, (int)length);
            uint storedCrc = BinaryPrimitives.ReadUInt32BigEndian(png[(pos + 8 + (int)length)..]);
            uint actualCrc = Crc32.Compute(png.Slice(pos + 4, 4 + (int)length));
            if (storedCrc != actualCrc)
            {
                throw new ImageFormatException(sourceName, $"bad CRC in PNG chunk '{type}' at byte {pos} (stored 0x{storedCrc:X8}, computed 0x{actualCrc:X8}): the file is corrupt.");
            }

            if (!haveHeader && type != "IHDR")
            {
                throw new ImageFormatException(sourceName, $"PNG does not start with an IHDR chunk (first chunk is '{type}').");
            }

            switch (type)
            {
                case "IHDR":
                    if (haveHeader)
                    {
                        throw new ImageFormatException(sourceName, "PNG has two IHDR chunks.");
                    }

                    header = ParseHeader(data, sourceName);
                    haveHeader = true;
                    break;
                case "PLTE":
                    if (length % 3 != 0 || length == 0 || length > 768)
                    {
                        throw new ImageFormatException(sourceName, $"PNG palette has an invalid length of {length} bytes.");
                    }

                    palette = data.ToArray();
                    break;
                case "IDAT":
                    idat.Write(data);
                    break;
                case "IEND":
                    haveEnd = true;
                    break;
                default:
                    // Ancillary chunks (lower-case first letter: tRNS, gAMA, tEXt, ...) do not change indices.
                    if (char.IsAsciiLetterUpper(type[0]))
                    {
                        throw new ImageFormatException(sourceName, $"PNG has an unknown critical chunk '{type}'.");
                    }

                    break;
            }

            pos += 12 + (int)length;
        }

        if (idat.Length == 0)
        {
            throw new ImageFormatException(sourceName, "PNG has no image data (no IDAT chunk).");
        }

        if (header.ColorType == 3 && palette.Length == 0)
        {
            throw new ImageFormatException(sourceName, "indexed PNG (colour type 3) has no PLTE chunk.");
        }

        byte[] raw = Inflate(idat, RawSize(header), sourceName);
        byte[] indices = Unfilter(raw, header, sourceName);
        return new IndexedImage(header.Height, header.Width, indices, header.ColorType == 3 ? palette : [], header.ColorType == 0, header.BitDepth);
    }

    /// <summary>Decodes the PNG at <paramref name="path"/> as a label map (indices are the labels).</summary>
    /// <exception cref="ImageFormatException">The file is not a readable palette or grayscale PNG.</exception>
    public static SegmentationMask ReadMask(string path) => Decode(path).ToMask();

    /// <summary>
    /// Encodes height x width indices as an 8-bit palette PNG. <paramref name="palette"/> is RGB triples
    /// (at most 256 entries); empty means the <see cref="VocPalette"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes do not match, the palette is malformed, or an index is beyond the palette.</exception>
    public static byte[] Encode(int height, int width, ReadOnlySpan<byte> indices, ReadOnlySpan<byte> palette = default)
        => Encode(height, width, indices, palette, forcedFilter: null);

    /// <summary>Encodes a label map as an 8-bit palette PNG (see <see cref="Encode(int, int, ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>).</summary>
    public static byte[] Encode(SegmentationMask mask, ReadOnlySpan<byte> palette = default)
    {
        ArgumentNullException.ThrowIfNull(mask);
        return Encode(mask.Height, mask.Width, mask.Labels, palette, forcedFilter: null);
    }

    /// <summary>Writes a label map as a palette PNG atomically (temporary file, then rename); creates the folder.</summary>
    public static void Write(string path, SegmentationMask mask, ReadOnlySpan<byte> palette = default)
    {
        ArgumentNullException.ThrowIfNull(mask);
        AtomicFile.WriteAllBytes(path, Encode(mask, palette));
    }

    /// <summary>Writes raw indices as a palette PNG atomically (temporary file, then rename); creates the folder.</summary>
    public static void Write(string path, int height, int width, ReadOnlySpan<byte> indices, ReadOnlySpan<byte> palette = default)
        => AtomicFile.WriteAllBytes(path, Encode(height, width, indices, palette));

    /// <summary>
    /// The encoder; <paramref name="forcedFilter"/> (0..4) makes every row use that filter type, which
    /// the tests use to exercise each filter in the decoder; null picks per row by the usual
    /// minimum-sum-of-absolute-differences heuristic.
    /// </summary>
    internal static byte[] Encode(int height, int width, ReadOnlySpan<byte> indices, ReadOnlySpan<byte> palette, int? forcedFilter)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (indices.Length != (long)height * width)
        {
            throw new ArgumentException($"{height}x{width} needs {(long)height * width} indices, got {indices.Length}.", nameof(indices));
        }

        if (palette.IsEmpty)
        {
            palette = VocPalette.Rgb;
        }

        if (palette.Length % 3 != 0 || palette.Length > 768)
        {
            throw new ArgumentException($"A PNG palette holds 1 to 256 RGB triples; got {palette.Length} bytes.", nameof(palette));
        }

        int entries = palette.Length / 3;
        if (entries < 256)
        {
            foreach (byte v in indices)
            {
                if (v >= entries)
                {
                    throw new ArgumentException($"Index {v} is beyond the palette of {entries} entries.", nameof(indices));
                }
            }
        }

        if (forcedFilter is < 0 or > 4)
        {
            throw new ArgumentOutOfRangeException(nameof(forcedFilter));
        }

        using var output = new MemoryStream();
        output.Write(Signature);
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 3; // colour type: indexed
        ihdr[10] = 0; // deflate
        ihdr[11] = 0; // adaptive filtering
        ihdr[12] = 0; // no interlace
        WriteChunk(output, "IHDR", ihdr);
        WriteChunk(output, "PLTE", palette);

        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            {
                var filtered = new byte[width + 1];
                var candidate = new byte[width];
                for (int y = 0; y < height; y++)
                {
                    ReadOnlySpan<byte> row = indices.Slice(y * width, width);
                    ReadOnlySpan<byte> prev = y == 0 ? default : indices.Slice((y - 1) * width, width);
                    if (forcedFilter is int f)
                    {
                        filtered[0] = (byte)f;
                        ApplyFilter(f, row, prev, filtered.AsSpan(1));
                    }
                    else
                    {
                        long best = long.MaxValue;
                        for (int t = 0; t < 5; t++)
                        {
                            ApplyFilter(t, row, prev, candidate);
                            long score = 0;
                            foreach (byte b in candidate)
                            {
                                score += b < 128 ? b : 256 - b;
                            }

                            if (score < best)
                            {
                                best = score;
                                filtered[0] = (byte)t;
                                candidate.CopyTo(filtered.AsSpan(1));
                            }
                        }
                    }

                    z.Write(filtered);
                }
            }

            WriteChunk(output, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        }

        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    private readonly record struct Header(int Width, int Height, int BitDepth, int ColorType, bool Interlaced);

    private static Header ParseHeader(ReadOnlySpan<byte> data, string source)
    {
        if (data.Length != 13)
        {
            throw new ImageFormatException(source, $"PNG IHDR has {data.Length} bytes instead of 13.");
        }

        uint width = BinaryPrimitives.ReadUInt32BigEndian(data);
        uint height = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        int depth = data[8], colorType = data[9];
        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
        {
            throw new ImageFormatException(source, $"PNG has an invalid size {width}x{height}.");
        }

        if ((long)width * height > Array.MaxLength)
        {
            throw new ImageFormatException(source, $"PNG of {width}x{height} is too large to decode into one buffer.");
        }

        string? unsupported = colorType switch
        {
            0 or 3 => null,
            2 => "colour type 2 (truecolour RGB)",
            4 => "colour type 4 (grayscale with alpha)",
            6 => "colour type 6 (RGBA)",
            _ => $"colour type {colorType} (invalid)",
        };
        if (unsupported != null)
        {
            throw new ImageFormatException(source, $"PNG has {unsupported}; only indexed (type 3) and grayscale (type 0) PNGs can be read as label indices.");
        }

        if (depth is not (1 or 2 or 4 or 8))
        {
            throw new ImageFormatException(source, depth == 16 && colorType == 0
                ? "PNG is 16-bit grayscale; only bit depths 1, 2, 4 and 8 are supported for label maps."
                : $"PNG has bit depth {depth} for colour type {colorType}; supported are 1, 2, 4 and 8.");
        }

        if (data[10] != 0 || data[11] != 0)
        {
            throw new ImageFormatException(source, $"PNG has unknown compression method {data[10]} or filter method {data[11]}.");
        }

        if (data[12] > 1)
        {
            throw new ImageFormatException(source, $"PNG has unknown interlace method {data[12]}.");
        }

        return new Header((int)width, (int)height, depth, colorType, data[12] == 1);
    }

    private static int RowBytes(int width, int depth) => (int)(((long)width * depth + 7) / 8);

    private static long RawSize(Header h)
    {
        if (!h.Interlaced)
        {
            return (long)h.Height * (1 + RowBytes(h.Width, h.BitDepth));
        }

        long total = 0;
        foreach (var (x0, y0, dx, dy) in Adam7)
        {
            int pw = (h.Width - x0 + dx - 1) / dx, ph = (h.Height - y0 + dy - 1) / dy;
            if (pw > 0 && ph > 0)
            {
                total += (long)ph * (1 + RowBytes(pw, h.BitDepth));
            }
        }

        return total;
    }

    private static byte[] Inflate(MemoryStream idat, long expected, string source)
    {
        if (expected > Array.MaxLength)
        {
            throw new ImageFormatException(source, "PNG image data is too large to decode.");
        }

        // Deflate cannot expand data more than 1032-fold, so IDAT bytes bound what they can inflate to. A damaged
        // IHDR that claims a huge image over a few bytes of data is rejected here, before its buffer is allocated.
        if (expected > (idat.Length * MaxDeflateRatio) + 1024)
        {
            throw new ImageFormatException(source, $"PNG image data is truncated or the header is damaged: {idat.Length} bytes of IDAT cannot inflate to the {expected} bytes that the IHDR size needs.");
        }

        var raw = new byte[expected];
        idat.Position = 0;
        int read;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress, leaveOpen: true);
            read = z.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            // InvalidDataException for most damage, but some of zlib's error codes arrive as System.IO.Compression's
            // ZLibException, another IOException; reading from a MemoryStream raises no other.
            throw new ImageFormatException(source, $"PNG image data is corrupt (zlib: {e.Message}).", e);
        }

        if (read < raw.Length)
        {
            throw new ImageFormatException(source, $"PNG image data is truncated: {read} of {raw.Length} bytes after decompression.");
        }

        return raw;
    }

    private static byte[] Unfilter(byte[] raw, Header h, string source)
    {
        var indices = new byte[(long)h.Width * h.Height];
        int offset = 0;
        if (!h.Interlaced)
        {
            UnfilterPass(raw, ref offset, h.Width, h.Height, h.BitDepth, indices, h.Width, 0, 0, 1, 1, source);
        }
        else
        {
            foreach (var (x0, y0, dx, dy) in Adam7)
            {
                int pw = (h.Width - x0 + dx - 1) / dx, ph = (h.Height - y0 + dy - 1) / dy;
                if (pw > 0 && ph > 0)
                {
                    UnfilterPass(raw, ref offset, pw, ph, h.BitDepth, indices, h.Width, x0, y0, dx, dy, source);
                }
            }
        }

        return indices;
    }

    private static void UnfilterPass(byte[] raw, ref int offset, int pw, int ph, int depth, byte[] dest, int destWidth, int x0, int y0, int dx, int dy, string source)
    {
        int rowBytes = RowBytes(pw, depth);
        // Filters work on whole bytes with bpp = 1 for every format read here (one sample of <= 8 bits).
        var prev = new byte[rowBytes];
        var cur = new byte[rowBytes];
        int mask = (1 << depth) - 1;
        for (int y = 0; y < ph; y++)
        {
            int filter = raw[offset];
            raw.AsSpan(offset + 1, rowBytes).CopyTo(cur);
            offset += 1 + rowBytes;
            switch (filter)
            {
                case 0:
                    break;
                case 1:
                    for (int i = 1; i < rowBytes; i++)
                    {
                        cur[i] += cur[i - 1];
                    }

                    break;
                case 2:
                    for (int i = 0; i < rowBytes; i++)
                    {
                        cur[i] += prev[i];
                    }

                    break;
                case 3:
                    cur[0] += (byte)(prev[0] >> 1);
                    for (int i = 1; i < rowBytes; i++)
                    {
                        cur[i] += (byte)((cur[i - 1] + prev[i]) >> 1);
                    }

                    break;
                case 4:
                    cur[0] += prev[0];
                    for (int i = 1; i < rowBytes; i++)
                    {
                        cur[i] += Paeth(cur[i - 1], prev[i], prev[i - 1]);
                    }

                    break;
                default:
                    throw new ImageFormatException(source, $"PNG row {y} has unknown filter type {filter} (corrupt image data).");
            }

            long destRow = (long)(y0 + (y * dy)) * destWidth;
            if (depth == 8 && dx == 1)
            {
                cur.AsSpan(0, pw).CopyTo(dest.AsSpan((int)destRow, pw));
            }
            else
            {
                for (int x = 0; x < pw; x++)
                {
                    int bit = x * depth;
                    int value = (cur[bit >> 3] >> (8 - depth - (bit & 7))) & mask;
                    dest[destRow + x0 + (x * dx)] = (byte)value;
                }
            }

            (prev, cur) = (cur, prev);
        }
    }

    private static byte Paeth(byte a, byte b, byte c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void ApplyFilter(int type, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prev, Span<byte> output)
    {
        int n = row.Length;
        if (prev.IsEmpty)
        {
            // First row: "up" and "upper-left" are zero, so Up = None, Average = half of Sub, Paeth = Sub.
            output[0] = row[0];
            for (int i = 1; i < n; i++)
            {
                output[i] = type switch
                {
                    0 or 2 => row[i],
                    3 => (byte)(row[i] - (row[i - 1] >> 1)),
                    _ => (byte)(row[i] - row[i - 1]),
                };
            }

            return;
        }

        switch (type)
        {
            case 0:
                row.CopyTo(output);
                break;
            case 1:
                output[0] = row[0];
                for (int i = 1; i < n; i++)
                {
                    output[i] = (byte)(row[i] - row[i - 1]);
                }

                break;
            case 2:
                for (int i = 0; i < n; i++)
                {
                    output[i] = (byte)(row[i] - prev[i]);
                }

                break;
            case 3:
                output[0] = (byte)(row[0] - (prev[0] >> 1));
                for (int i = 1; i < n; i++)
                {
                    output[i] = (byte)(row[i] - ((row[i - 1] + prev[i]) >> 1));
                }

                break;
            default:
                output[0] = (byte)(row[0] - prev[0]);
                for (int i = 1; i < n; i++)
                {
                    output[i] = (byte)(row[i] - Paeth(row[i - 1], prev[i], prev[i - 1]));
                }

                break;
        }
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        Span<byte> typeBytes = stackalloc byte[4];
        System.Text.Encoding.ASCII.GetBytes(type, typeBytes);
        output.Write(typeBytes);
        output.Write(data);
        uint crc = Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Start, typeBytes), data));
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }
}
