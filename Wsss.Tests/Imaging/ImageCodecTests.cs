using System.Buffers.Binary;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using SkiaSharp;
using Wsss.Imaging;

namespace Wsss.Tests.Imaging;

[TestClass]
public sealed class ImageCodecTests
{
    private static RgbImage Gradient(int h, int w)
    {
        var img = new RgbImage(h, w);
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                img[y, x] = ((byte)(x * 255 / Math.Max(1, w - 1)), (byte)(y * 255 / Math.Max(1, h - 1)), (byte)((x + y) % 256));
            }
        }

        return img;
    }

    private static RgbImage Noise(int h, int w, int seed)
    {
        var pixels = new byte[h * w * 3];
        new Random(seed).NextBytes(pixels);
        return new RgbImage(h, w, pixels);
    }

    private static int PngColorType(byte[] png) => png[25]; // IHDR: signature 8, length 4, type 4, width 4, height 4, depth 1, colour type

    private static string SomeCocoJpeg()
    {
        string jpegDir = TestData.RequireShared("coco128-voc", "JPEGImages");
        return Directory.GetFiles(jpegDir, "*.jpg").OrderBy(p => p, StringComparer.Ordinal).First();
    }

    [TestMethod]
    public void PngRoundTripIsLosslessAndKeepsRgbOrder()
    {
        var img = Noise(7, 11, 1);
        img[0, 0] = (255, 0, 0); // pure red must come back as red, not blue
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("a.png");
        ImageCodec.SavePng(img, path);
        var back = ImageCodec.Decode(path);
        Assert.AreEqual(7, back.Height);
        Assert.AreEqual(11, back.Width);
        Assert.AreEqual(((byte)255, (byte)0, (byte)0), back[0, 0]);
        CollectionAssert.AreEqual(img.Pixels, back.Pixels);
        Assert.AreEqual(2, PngColorType(File.ReadAllBytes(path)), "an RGB PNG: no alpha channel written");
        Assert.IsFalse(Directory.GetFiles(dir.Path, "*.tmp").Any(), "atomic write left a temporary file");
    }

    [TestMethod]
    public void CompressionLevelsAllRoundTripAndNineIsSmallerThanZero()
    {
        var img = Gradient(64, 80);
        byte[] stored = ImageCodec.EncodePng(img, compression: 0);
        byte[] smallest = ImageCodec.EncodePng(img, compression: 9);
        CollectionAssert.AreEqual(img.Pixels, ImageCodec.Decode(stored).Pixels);
        CollectionAssert.AreEqual(img.Pixels, ImageCodec.Decode(smallest).Pixels);
        Assert.IsLessThan(stored.Length / 4, smallest.Length, $"level 9 {smallest.Length} bytes vs level 0 {stored.Length}");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ImageCodec.EncodePng(img, compression: 10));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ImageCodec.EncodeGrayPng(new byte[4], 2, 2, compression: -1));
    }

    [TestMethod]
    public void GrayPngDecodesToEqualChannels()
    {
        byte[] gray = [0, 50, 100, 150, 200, 250];
        byte[] png = ImageCodec.EncodeGrayPng(gray, 2, 3);
        Assert.AreEqual(0, PngColorType(png), "a grayscale PNG");
        var img = ImageCodec.Decode(png);
        for (int i = 0; i < 6; i++)
        {
            Assert.AreEqual((gray[i], gray[i], gray[i]), img[i / 3, i % 3]);
        }

        Assert.ThrowsExactly<ArgumentException>(() => ImageCodec.EncodeGrayPng(gray, 2, 2));
    }

    [TestMethod]
    public void MissingFileNamesThePath()
    {
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => ImageCodec.Decode("/nonexistent/dir/cat.jpg"));
        StringAssert.Contains(e.Message, "/nonexistent/dir/cat.jpg");
    }

    [TestMethod]
    public void EmptyTextAndCorruptFilesFailNamingTheFileAndTheReason()
    {
        using var dir = TestData.NewTempDirectory();
        string empty = dir.File("empty.png");
        File.WriteAllBytes(empty, []);
        var e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(empty));
        Assert.AreEqual(empty, e.FilePath);
        StringAssert.StartsWith(e.Message, empty + ": ");
        StringAssert.Contains(e.Message, "empty (0 bytes)");

        string text = dir.File("notes.jpg");
        File.WriteAllText(text, "These are not the pixels you are looking for.\n");
        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(text));
        StringAssert.StartsWith(e.Message, text + ": ");
        StringAssert.Contains(e.Message, "not an image");

        string header = dir.File("header-only.jpg");
        File.WriteAllBytes(header, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(header));
        StringAssert.StartsWith(e.Message, header + ": ");

        // A PNG with a damaged byte in its compressed data: zlib's checks catch it.
        byte[] png = ImageCodec.EncodePng(Noise(32, 32, 2));
        png[png.Length / 2] ^= 0xFF;
        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(png, "row 7 of column 'Image'"));
        StringAssert.StartsWith(e.Message, "row 7 of column 'Image': ");
        StringAssert.Contains(e.Message, "corrupt");

        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(ReadOnlySpan<byte>.Empty));
        Assert.AreEqual("<bytes>", e.FilePath);
    }

    [TestMethod]
    public void TruncatedFilesAreErrorsNotHalfGreyImages()
    {
        using var dir = TestData.NewTempDirectory();
        byte[] jpeg = TestImages.EncodeWithSkia(Noise(96, 128, 3), SKEncodedImageFormat.Jpeg, 90);
        Assert.IsGreaterThan(10_000, jpeg.Length, "the noise JPEG is big enough to cut");
        string cut = dir.File("cut.jpg");
        File.WriteAllBytes(cut, jpeg[..5000]);
        var e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(cut));
        StringAssert.StartsWith(e.Message, cut + ": ");
        StringAssert.Contains(e.Message, "truncated (IncompleteInput)");

        byte[] png = ImageCodec.EncodePng(Noise(32, 32, 4));
        string truncated = dir.File("truncated.png");
        File.WriteAllBytes(truncated, png[..(png.Length / 2)]);
        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(truncated));
        StringAssert.StartsWith(e.Message, truncated + ": ");
        StringAssert.Contains(e.Message, "truncated (IncompleteInput)");

        string headerCut = dir.File("header-cut.png");
        File.WriteAllBytes(headerCut, png[..20]);
        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(headerCut));
        StringAssert.Contains(e.Message, "truncated");

        // the codec still works afterwards
        CollectionAssert.AreEqual(Noise(32, 32, 4).Pixels, ImageCodec.Decode(png).Pixels);
    }

    [TestMethod]
    public void DecodesTheCocoJpegsAndRefusesOneCutAt5000Bytes()
    {
        string jpegDir = TestData.RequireShared("coco128-voc", "JPEGImages");
        string[] files = Directory.GetFiles(jpegDir, "*.jpg").OrderBy(p => p, StringComparer.Ordinal).ToArray();
        Assert.IsGreaterThan(50, files.Length);
        foreach (string file in files)
        {
            var photo = ImageCodec.Decode(file);
            var (h, w) = ImageHeader.ReadSize(file);
            Assert.IsTrue((photo.Height, photo.Width) == (h, w) || (photo.Height, photo.Width) == (w, h), $"{file}: decoded {photo.Height}x{photo.Width}, header {h}x{w}");
            // A photo's bottom half is not one flat colour (what a decoder that fills missing rows leaves).
            int half = photo.Height / 2 * photo.Width * 3;
            Assert.IsGreaterThan(50, photo.Pixels.AsSpan(half).ToArray().Distinct().Count(), $"{file}: bottom half is nearly flat");
        }

        using var dir = TestData.NewTempDirectory();
        string cut = dir.File(Path.GetFileName(files[0]));
        File.WriteAllBytes(cut, File.ReadAllBytes(files[0])[..5000]);
        var e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(cut));
        Assert.AreEqual(cut, e.FilePath);
        StringAssert.Contains(e.Message, cut);
        StringAssert.Contains(e.Message, "truncated (IncompleteInput)");
    }

    [TestMethod]
    public void DecodesTheSharedPngFixture()
    {
        string png = TestData.RequireShared("fixtures", "mobilenet", "cat_224.png");
        var img = ImageCodec.Decode(png);
        Assert.AreEqual(224, img.Height);
        Assert.AreEqual(224, img.Width);
        Assert.IsGreaterThan(50, img.Pixels.Distinct().Count(), "a photo has many distinct values");
    }

    [TestMethod]
    public void WebPAndBmpDecodeExactly()
    {
        var img = Noise(9, 5, 5); // width 5: BMP rows of 15 bytes get one padding byte
        byte[] webp = TestImages.EncodeWithSkia(img, SKEncodedImageFormat.Webp);
        StringAssert.StartsWith(System.Text.Encoding.ASCII.GetString(webp, 8, 4), "WEBP");
        CollectionAssert.AreEqual(img.Pixels, ImageCodec.Decode(webp, "lossless.webp").Pixels, "lossless WebP");

        var bottomUp = ImageCodec.Decode(TestImages.Bmp24(img), "bottom-up.bmp");
        Assert.AreEqual((9, 5), (bottomUp.Height, bottomUp.Width));
        CollectionAssert.AreEqual(img.Pixels, bottomUp.Pixels, "bottom-up BMP");
        CollectionAssert.AreEqual(img.Pixels, ImageCodec.Decode(TestImages.Bmp24(img, topDown: true), "top-down.bmp").Pixels, "top-down BMP");

        byte[] bmp = TestImages.Bmp24(img);
        var e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(bmp[..100], "cut.bmp"));
        StringAssert.StartsWith(e.Message, "cut.bmp: ");
    }

    [TestMethod]
    public void ExifOrientationIsAppliedForAllEight()
    {
        // Stored 32 x 64 with four flat quadrants on JPEG block boundaries, so corners survive compression.
        const int H = 32, W = 64;
        var colours = new Dictionary<string, (byte R, byte G, byte B)>
        {
            ["TL"] = (230, 20, 20), ["TR"] = (20, 200, 20), ["BL"] = (20, 20, 230), ["BR"] = (240, 240, 240),
        };
        var stored = new RgbImage(H, W);
        for (int y = 0; y < H; y++)
        {
            for (int x = 0; x < W; x++)
            {
                stored[y, x] = colours[(y < H / 2 ? "T" : "B") + (x < W / 2 ? "L" : "R")];
            }
        }

        byte[] jpeg = TestImages.EncodeWithSkia(stored, SKEncodedImageFormat.Jpeg, 95);

        // From the EXIF specification: which stored corner is shown at the top-left, top-right,
        // bottom-left and bottom-right, and whether the displayed image is the stored one turned sideways.
        var expected = new Dictionary<int, (string TL, string TR, string BL, string BR, bool Sideways)>
        {
            [1] = ("TL", "TR", "BL", "BR", false),
            [2] = ("TR", "TL", "BR", "BL", false), // mirrored left-right
            [3] = ("BR", "BL", "TR", "TL", false), // rotated 180
            [4] = ("BL", "BR", "TL", "TR", false), // mirrored top-bottom
            [5] = ("TL", "BL", "TR", "BR", true), // transposed
            [6] = ("BL", "TL", "BR", "TR", true), // shown rotated 90 degrees clockwise
            [7] = ("BR", "TR", "BL", "TL", true), // transversed
            [8] = ("TR", "BR", "TL", "BL", true), // shown rotated 90 degrees anticlockwise
        };

        foreach (var (orientation, e) in expected)
        {
            foreach (bool bigEndian in new[] { true, false })
            {
                string what = $"orientation {orientation} ({(bigEndian ? "MM" : "II")})";
                var img = ImageCodec.Decode(TestImages.WithExifOrientation(jpeg, orientation, bigEndian), $"exif{orientation}.jpg");
                Assert.AreEqual(e.Sideways ? (W, H) : (H, W), (img.Height, img.Width), what);
                AssertNear(colours[e.TL], img[0, 0], $"{what}: top-left");
                AssertNear(colours[e.TR], img[0, img.Width - 1], $"{what}: top-right");
                AssertNear(colours[e.BL], img[img.Height - 1, 0], $"{what}: bottom-left");
                AssertNear(colours[e.BR], img[img.Height - 1, img.Width - 1], $"{what}: bottom-right");
            }
        }
    }

    private static void AssertNear((byte R, byte G, byte B) expected, (byte R, byte G, byte B) actual, string what)
    {
        int d = Math.Max(Math.Abs(expected.R - actual.R), Math.Max(Math.Abs(expected.G - actual.G), Math.Abs(expected.B - actual.B)));
        Assert.IsLessThanOrEqualTo(24, d, $"{what}: expected {expected}, got {actual}");
    }

    [TestMethod]
    public void SixteenBitPngsScaleToEightBits()
    {
        ushort[] samples = [0, 255, 256, 0x7FFF, 0x8080, 0xFF00, 0xFFFF];
        // RGB 16-bit: pixel i has channels (v_i, v_{i+1}, v_{i+2}) cyclically.
        int n = samples.Length;
        var rgbRow = new byte[n * 6];
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(rgbRow.AsSpan((i * 6) + (c * 2)), samples[(i + c) % n]);
            }
        }

        var rgb = ImageCodec.Decode(TestImages.Png(n, 1, 16, 2, [rgbRow]), "rgb16.png");
        var grayRow = new byte[n * 2];
        for (int i = 0; i < n; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(grayRow.AsSpan(i * 2), samples[i]);
        }

        var gray = ImageCodec.Decode(TestImages.Png(n, 1, 16, 0, [grayRow]), "gray16.png");
        for (int i = 0; i < n; i++)
        {
            // Exact scaling is v * 255 / 65535; a decoder may keep the high byte instead: they differ by at most 1.
            static int Expected(ushort v) => (int)Math.Round(v * 255.0 / 65535.0);
            var p = rgb[0, i];
            Assert.IsLessThanOrEqualTo(1, Math.Abs(p.R - Expected(samples[i])), $"rgb16 R of {samples[i]}: {p.R}");
            Assert.IsLessThanOrEqualTo(1, Math.Abs(p.G - Expected(samples[(i + 1) % n])), $"rgb16 G: {p.G}");
            Assert.IsLessThanOrEqualTo(1, Math.Abs(p.B - Expected(samples[(i + 2) % n])), $"rgb16 B: {p.B}");
            var g = gray[0, i];
            Assert.IsLessThanOrEqualTo(1, Math.Abs(g.R - Expected(samples[i])), $"gray16 {samples[i]}: {g.R}");
            Assert.IsTrue(g.R == g.G && g.G == g.B, "gray decodes to equal channels");
        }

        Assert.AreEqual(((byte)0, (byte)0, (byte)0), gray[0, 0]);
        Assert.AreEqual(((byte)255, (byte)255, (byte)255), gray[0, n - 1]);
    }

    [TestMethod]
    public void AlphaIsIgnoredAndStoredColoursAreKept()
    {
        // RGBA: alpha 255, 128 and 0 over the same colours; each pixel must keep its stored colour.
        byte[] rgbaRow = [200, 100, 50, 255, 200, 100, 50, 128, 200, 100, 50, 0];
        var rgba = ImageCodec.Decode(TestImages.Png(3, 1, 8, 6, [rgbaRow]), "rgba.png");
        for (int x = 0; x < 3; x++)
        {
            Assert.AreEqual(((byte)200, (byte)100, (byte)50), rgba[0, x], $"RGBA pixel {x}");
        }

        // Gray + alpha.
        byte[] grayAlphaRow = [90, 255, 90, 1, 90, 0];
        var grayAlpha = ImageCodec.Decode(TestImages.Png(3, 1, 8, 4, [grayAlphaRow]), "gray-alpha.png");
        for (int x = 0; x < 3; x++)
        {
            Assert.AreEqual(((byte)90, (byte)90, (byte)90), grayAlpha[0, x], $"gray+alpha pixel {x}");
        }
    }

    [TestMethod]
    public void PalettePngsDecodeToTheirColoursWhilePalettePngKeepsIndices()
    {
        byte[] indices = [0, 1, 15, 255, 20, 3];
        byte[] png = PalettePng.Encode(2, 3, indices);
        var img = ImageCodec.Decode(png, "mask.png");
        for (int i = 0; i < indices.Length; i++)
        {
            Assert.AreEqual(VocPalette.Color(indices[i]), img[i / 3, i % 3], $"index {indices[i]}");
        }

        CollectionAssert.AreEqual(indices, PalettePng.Decode(png).Indices);
    }

    [TestMethod]
    public void CocoVocMasksDecodeToThePaletteColoursOfTheirIndices()
    {
        string masks = TestData.RequireShared("coco128-voc", "SegmentationClass");
        foreach (string file in Directory.GetFiles(masks, "*.png").OrderBy(p => p, StringComparer.Ordinal).Take(5))
        {
            var colours = ImageCodec.Decode(file);
            var indexed = PalettePng.Decode(file);
            Assert.AreEqual((indexed.Height, indexed.Width), (colours.Height, colours.Width), file);
            for (int i = 0; i < indexed.Indices.Length; i += 97)
            {
                int k = indexed.Indices[i] * 3;
                var expected = (indexed.Palette[k], indexed.Palette[k + 1], indexed.Palette[k + 2]);
                Assert.AreEqual(expected, colours[i / colours.Width, i % colours.Width], $"{file} pixel {i}");
            }
        }
    }
}
