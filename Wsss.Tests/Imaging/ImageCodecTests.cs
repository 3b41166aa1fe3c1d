using Microsoft.VisualStudio.TestTools.UnitTesting;
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

    [TestMethod]
    public void PngRoundTripIsLosslessAndKeepsRgbOrder()
    {
        var img = Gradient(7, 11);
        img[0, 0] = (255, 0, 0); // pure red must come back as red, not blue (OpenCV is BGR inside)
        using var dir = TestData.NewTempDirectory();
        string path = dir.File("a.png");
        ImageCodec.SavePng(img, path);
        var back = ImageCodec.Decode(path);
        Assert.AreEqual(7, back.Height);
        Assert.AreEqual(11, back.Width);
        Assert.AreEqual(((byte)255, (byte)0, (byte)0), back[0, 0]);
        CollectionAssert.AreEqual(img.Pixels, back.Pixels);
        Assert.IsFalse(Directory.GetFiles(dir.Path, "*.tmp").Any(), "atomic write left a temporary file");
    }

    [TestMethod]
    public void GrayPngDecodesToEqualChannels()
    {
        byte[] gray = [0, 50, 100, 150, 200, 250];
        var img = ImageCodec.Decode(ImageCodec.EncodeGrayPng(gray, 2, 3));
        for (int i = 0; i < 6; i++)
        {
            Assert.AreEqual((gray[i], gray[i], gray[i]), img[i / 3, i % 3]);
        }
    }

    [TestMethod]
    public void MissingFileNamesThePath()
    {
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => ImageCodec.Decode("/nonexistent/dir/cat.jpg"));
        StringAssert.Contains(e.Message, "/nonexistent/dir/cat.jpg");
    }

    [TestMethod]
    public void CorruptFileFailsCleanlyNamingTheFile()
    {
        using var dir = TestData.NewTempDirectory();
        string corrupt = dir.File("corrupt.jpg");
        File.WriteAllBytes(corrupt, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageCodec.Decode(corrupt));
        StringAssert.Contains(e.Message, "corrupt.jpg");

        string empty = dir.File("empty.png");
        File.WriteAllBytes(empty, []);
        e = Assert.ThrowsExactly<InvalidDataException>(() => ImageCodec.Decode(empty));
        StringAssert.Contains(e.Message, "empty.png");

        // a truncated PNG: the first half of a valid file
        byte[] png = ImageCodec.EncodePng(Gradient(32, 32));
        string truncated = dir.File("truncated.png");
        File.WriteAllBytes(truncated, png[..(png.Length / 2)]);
        e = Assert.ThrowsExactly<InvalidDataException>(() => ImageCodec.Decode(truncated));
        StringAssert.Contains(e.Message, "truncated.png");

        // the process and the codec still work afterwards
        Assert.AreEqual(32, ImageCodec.Decode(png).Height);
    }

    [TestMethod]
    public void DecodesTheSharedJpegAndPngFixtures()
    {
        string png = TestData.RequireShared("fixtures", "mobilenet", "cat_224.png");
        var img = ImageCodec.Decode(png);
        Assert.AreEqual(224, img.Height);
        Assert.AreEqual(224, img.Width);
        Assert.IsTrue(img.Pixels.Distinct().Count() > 50, "a photo has many distinct values");

        string jpegDir = TestData.RequireShared("coco128-voc", "JPEGImages");
        string jpeg = Directory.GetFiles(jpegDir, "*.jpg").OrderBy(p => p, StringComparer.Ordinal).First();
        var photo = ImageCodec.Decode(jpeg);
        Assert.IsTrue(photo.Height > 100 && photo.Width > 100);
    }

    [TestMethod]
    public void ResizeBilinearUsesPixelCentresAndNearestKeepsLabels()
    {
        // 1x2 image [0, 200] upscaled to 1x4 with half-pixel centres: source coords -0.25, 0.25, 0.75, 1.25
        // -> clamped 0, 0.25, 0.75, 1 -> values 0, 50, 150, 200
        var img = new RgbImage(1, 2);
        img[0, 0] = (0, 0, 0);
        img[0, 1] = (200, 200, 200);
        var up = img.Resize(1, 4, ResizeMode.Bilinear);
        CollectionAssert.AreEqual(new byte[] { 0, 50, 150, 200 }, Enumerable.Range(0, 4).Select(x => up[0, x].R).ToArray());

        byte[] labels = [0, 1, 255, 3];
        byte[] big = ImageResize.ResizePlane(labels, 2, 2, 4, 4, ResizeMode.Nearest);
        CollectionAssert.AreEqual(new byte[] { 0, 0, 1, 1, 0, 0, 1, 1, 255, 255, 3, 3, 255, 255, 3, 3 }, big);
    }
}
