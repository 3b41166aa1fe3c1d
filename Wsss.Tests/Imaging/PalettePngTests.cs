using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;
using Wsss.Tests.Data;

namespace Wsss.Tests.Imaging;

[TestClass]
public sealed class PalettePngTests
{
    [TestMethod]
    public void Crc32_MatchesStandardCheckValue()
    {
        // The CRC-32/ISO-HDLC check value of "123456789" is 0xCBF43926; the IEND chunk's CRC is AE426082.
        Assert.AreEqual(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.AreEqual(0xAE426082u, Crc32.Compute("IEND"u8));
    }

    [TestMethod]
    public void VocPalette_HasTheStandardColours()
    {
        // Entries from the PASCAL VOC devkit's colormap: background, aeroplane, person (15), ignore (255).
        Assert.AreEqual(((byte)0, (byte)0, (byte)0), VocPalette.Color(0));
        Assert.AreEqual(((byte)128, (byte)0, (byte)0), VocPalette.Color(1));
        Assert.AreEqual(((byte)0, (byte)128, (byte)0), VocPalette.Color(2));
        Assert.AreEqual(((byte)192, (byte)128, (byte)128), VocPalette.Color(15));
        Assert.AreEqual(((byte)224, (byte)224, (byte)192), VocPalette.Color(255));
        var distinct = new HashSet<(byte, byte, byte)>();
        for (int i = 0; i < 256; i++)
        {
            distinct.Add(VocPalette.Color((byte)i));
        }

        Assert.AreEqual(256, distinct.Count);
    }

    [TestMethod]
    public void RoundTrip_EveryFilterType_ReproducesIndices()
    {
        var (h, w, indices) = TestPattern(23, 37);
        for (int filter = 0; filter <= 4; filter++)
        {
            byte[] png = PalettePng.Encode(h, w, indices, default, filter);
            IndexedImage decoded = PalettePng.Decode(png);
            Assert.AreEqual(h, decoded.Height);
            Assert.AreEqual(w, decoded.Width);
            CollectionAssert.AreEqual(indices, decoded.Indices, $"filter {filter}");
            CollectionAssert.AreEqual(VocPalette.Rgb.ToArray(), decoded.Palette);
            Assert.IsFalse(decoded.IsGrayscale);
        }

        byte[] adaptive = PalettePng.Encode(h, w, indices);
        CollectionAssert.AreEqual(indices, PalettePng.Decode(adaptive).Indices);
    }

    [TestMethod]
    public void Decode_HandFilteredRows_UndoesEachFilter()
    {
        // Image rows: [10 20 30] [15 25 40] [5 5 5] [200 100 50] [1 2 3]; filtered by hand:
        // row 0 Sub:     10, 20-10, 30-20                                   = 10 10 10
        // row 1 Up:      15-10, 25-20, 40-30                                = 5 5 10
        // row 2 Average: 5-(0+15)/2=-2, 5-(5+25)/2=-10, 5-(5+40)/2=-17      = 254 246 239
        // row 3 Paeth (a,b,c): (0,5,0)->b=5: 195; (200,5,5)->a: -100; (100,5,5)->a: -50 = 195 156 206
        // row 4 Paeth: (0,200,0)->b: 1-200=-199; (1,100,200) p=-99 -> a: 1; (2,50,100) p=-48 -> a: 1 = 57 1 1
        byte[] raw =
        [
            1, 10, 10, 10,
            2, 5, 5, 10,
            3, 254, 246, 239,
            4, 195, 156, 206,
            4, 57, 1, 1,
        ];
        byte[] png = BuildChunks(5, 3, 8, 3, Zlib(raw), withPalette: true);
        byte[] expected = [10, 20, 30, 15, 25, 40, 5, 5, 5, 200, 100, 50, 1, 2, 3];
        CollectionAssert.AreEqual(expected, PalettePng.Decode(png).Indices);
    }

    [TestMethod]
    public void RoundTrip_CustomPalette_And_RejectsIndexBeyondPalette()
    {
        byte[] palette = [10, 20, 30, 40, 50, 60, 70, 80, 90];
        var mask = new SegmentationMask(2, 3, [0, 1, 2, 2, 1, 0]);
        IndexedImage decoded = PalettePng.Decode(PalettePng.Encode(mask, palette));
        CollectionAssert.AreEqual(palette, decoded.Palette);
        CollectionAssert.AreEqual(mask.Labels, decoded.Indices);
        Assert.ThrowsExactly<ArgumentException>(() => PalettePng.Encode(1, 2, [0, 3], palette));
    }

    [TestMethod]
    public void Decode_LowBitDepthsAndGrayscale_FromHandBuiltFiles()
    {
        var rng = new Random(5);
        foreach (int depth in new[] { 1, 2, 4, 8 })
        {
            foreach (int colorType in new[] { 0, 3 })
            {
                int h = 7, w = 13; // odd width: the last byte of a row is partly padding
                var values = new byte[h * w];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (byte)rng.Next(1 << depth);
                }

                foreach (bool interlaced in new[] { false, true })
                {
                    byte[] png = HandBuiltPng(h, w, depth, colorType, values, interlaced);
                    IndexedImage decoded = PalettePng.Decode(png);
                    CollectionAssert.AreEqual(values, decoded.Indices, $"depth {depth} type {colorType} interlaced {interlaced}");
                    Assert.AreEqual(colorType == 0, decoded.IsGrayscale);
                    Assert.AreEqual(depth, decoded.BitDepth);
                }
            }
        }
    }

    [TestMethod]
    public void Decode_CorruptFiles_ThrowClearErrorsNamingTheFile()
    {
        var (h, w, indices) = TestPattern(8, 9);
        byte[] good = PalettePng.Encode(h, w, indices);
        string dir = SharedDataPaths.NewTempFolder();
        try
        {
            string Check(byte[] bytes, string expected)
            {
                string path = Path.Combine(dir, "broken.png");
                File.WriteAllBytes(path, bytes);
                var e = Assert.ThrowsExactly<ImageFormatException>(() => PalettePng.Decode(path));
                StringAssert.Contains(e.Message, path);
                StringAssert.Contains(e.Message, expected);
                Assert.AreEqual(path, e.FilePath);
                return e.Message;
            }

            Check("GIF89a not a png"u8.ToArray(), "bad signature");

            byte[] badCrc = (byte[])good.Clone();
            badCrc[^20] ^= 0x40; // inside the IDAT data
            Check(badCrc, "bad CRC");

            Check(good[..(good.Length - 30)], "truncated");
            Check(good[..(good.Length - 12)], "truncated"); // no IEND

            byte[] rgb = HandBuiltPng(2, 2, 8, 2, new byte[12], false);
            Check(rgb, "colour type 2");
            byte[] rgba = HandBuiltPng(2, 2, 8, 6, new byte[16], false);
            Check(rgba, "colour type 6");
            byte[] gray16 = HandBuiltPng(2, 2, 16, 0, new byte[8], false);
            Check(gray16, "16-bit");

            // A valid stream of chunks whose zlib data decompresses to too few bytes.
            byte[] shortData = BuildChunks(2, 4, 8, 3, Zlib([0, 1, 2, 3, 4]), withPalette: true);
            Check(shortData, "truncated");
        }
        finally
        {
            SharedDataPaths.Delete(dir);
        }
    }

    [TestMethod]
    public void Write_IsAtomicAndLeavesNoTemporaryFile()
    {
        string dir = SharedDataPaths.NewTempFolder();
        try
        {
            string path = Path.Combine(dir, "sub", "mask.png");
            var mask = new SegmentationMask(3, 4, 7);
            mask[1, 2] = SegmentationMask.Ignore;
            PalettePng.Write(path, mask);
            PalettePng.Write(path, mask); // overwrite
            CollectionAssert.AreEqual(mask.Labels, PalettePng.ReadMask(path).Labels);
            CollectionAssert.AreEqual(new[] { "mask.png" }, Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName).ToArray());
            Assert.AreEqual((3, 4), ImageHeader.ReadSize(path));
        }
        finally
        {
            SharedDataPaths.Delete(dir);
        }
    }

    [TestMethod]
    public void Coco128Voc_AllMasksDecode_WithVocValues_AndRoundTrip()
    {
        string root = SharedDataPaths.RequireCoco128Voc();
        string[] files = Directory.GetFiles(Path.Combine(root, "SegmentationClass"), "*.png");
        Assert.AreEqual(97, files.Length);
        var seen = new HashSet<byte>();
        foreach (string file in files)
        {
            IndexedImage img = PalettePng.Decode(file);
            var (jh, jw) = ImageHeader.ReadSize(Path.Combine(root, "JPEGImages", Path.GetFileNameWithoutExtension(file) + ".jpg"));
            Assert.AreEqual((jh, jw), (img.Height, img.Width), file);
            Assert.AreEqual((img.Height, img.Width), ImageHeader.ReadSize(file));
            foreach (byte v in img.Indices)
            {
                if (v > 20 && v != 255)
                {
                    Assert.Fail($"{file}: value {v} is neither a VOC class nor 255");
                }

                seen.Add(v);
            }

            byte[] again = PalettePng.Decode(PalettePng.Encode(img.Height, img.Width, img.Indices, img.Palette)).Indices;
            CollectionAssert.AreEqual(img.Indices, again, file);
        }

        Assert.IsTrue(seen.Contains(0) && seen.Contains(15), "background and person must occur");
        Assert.IsTrue(seen.Count >= 10, $"only {seen.Count} distinct values over the masks");
    }

    internal static (int H, int W, byte[] Indices) TestPattern(int h, int w)
    {
        // Blocks, gradients and noise so every filter type meets non-trivial neighbours.
        var rng = new Random(h * 1000 + w);
        var v = new byte[h * w];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                v[(y * w) + x] = (x + y) % 4 == 0 ? (byte)rng.Next(256) : (byte)(((x / 5) + (y / 3) * 7) % 21);
            }
        }

        v[0] = 255;
        return (h, w, v);
    }

    /// <summary>An independent minimal PNG writer (filter 0 only) for formats the codec does not encode.</summary>
    private static byte[] HandBuiltPng(int h, int w, int depth, int colorType, byte[] samples, bool interlaced)
    {
        int channels = colorType switch { 2 => 3, 6 => 4, _ => 1 };
        var raw = new MemoryStream();
        void Pass(int x0, int y0, int dx, int dy)
        {
            int pw = (w - x0 + dx - 1) / dx, ph = (h - y0 + dy - 1) / dy;
            if (pw <= 0 || ph <= 0)
            {
                return;
            }

            int rowBits = pw * depth * channels;
            for (int y = 0; y < ph; y++)
            {
                var row = new byte[(rowBits + 7) / 8];
                for (int x = 0; x < pw * channels; x++)
                {
                    int src = ((y0 + (y * dy)) * w * channels) + ((x0 + ((x / channels) * dx)) * channels) + (x % channels);
                    if (depth == 16)
                    {
                        row[x * 2] = samples[src];
                        continue;
                    }

                    int bit = x * depth;
                    row[bit / 8] |= (byte)(samples[src] << (8 - depth - (bit % 8)));
                }

                raw.WriteByte(0);
                raw.Write(row);
            }
        }

        if (interlaced)
        {
            foreach (var (x0, y0, dx, dy) in new[] { (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2) })
            {
                Pass(x0, y0, dx, dy);
            }
        }
        else
        {
            Pass(0, 0, 1, 1);
        }

        return BuildChunks(h, w, depth, colorType, Zlib(raw.ToArray()), withPalette: colorType == 3, interlaced);
    }

    private static byte[] Zlib(byte[] data)
    {
        var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(data);
        }

        return ms.ToArray();
    }

    private static byte[] BuildChunks(int h, int w, int depth, int colorType, byte[] idat, bool withPalette, bool interlaced = false)
    {
        var png = new MemoryStream();
        png.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        void Chunk(string type, byte[] data)
        {
            var head = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
            System.Text.Encoding.ASCII.GetBytes(type, head.AsSpan(4));
            png.Write(head);
            png.Write(data);
            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.Compute([.. head.AsSpan(4).ToArray(), .. data]));
            png.Write(crc);
        }

        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = (byte)depth;
        ihdr[9] = (byte)colorType;
        ihdr[12] = interlaced ? (byte)1 : (byte)0;
        Chunk("IHDR", ihdr);
        if (withPalette)
        {
            Chunk("PLTE", VocPalette.Rgb.ToArray());
        }

        Chunk("tEXt", "Comment\0hand built"u8.ToArray()); // ancillary chunks must be skipped
        Chunk("IDAT", idat[..(idat.Length / 2)]); // split IDAT: chunks must be concatenated
        Chunk("IDAT", idat[(idat.Length / 2)..]);
        Chunk("IEND", []);
        return png.ToArray();
    }
}
