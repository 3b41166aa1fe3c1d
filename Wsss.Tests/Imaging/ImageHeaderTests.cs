using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;

namespace Wsss.Tests.Imaging;

[TestClass]
public sealed class ImageHeaderTests
{
    /// <summary>SOI, an APP0 segment, fill bytes, a DQT-sized dummy segment, then SOF2 (progressive) with the size.</summary>
    internal static byte[] MinimalJpegHeader(int height, int width, bool withSof = true)
    {
        var b = new List<byte> { 0xFF, 0xD8 };
        b.AddRange([0xFF, 0xE0, 0x00, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
        b.AddRange([0xFF, 0xFF, 0xDB, 0x00, 0x43]);
        b.AddRange(new byte[0x41]);
        b.AddRange([0xFF, 0xC4, 0x00, 0x05, 0, 0, 0]); // DHT: in the SOF marker range but not a frame
        if (withSof)
        {
            b.AddRange([0xFF, 0xC2, 0x00, 0x11, 8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 3]);
            b.AddRange(new byte[9]);
        }

        b.AddRange([0xFF, 0xDA, 0x00, 0x02]);
        return b.ToArray();
    }

    [TestMethod]
    public void ReadSize_Jpeg_FromFrameHeader()
    {
        Assert.AreEqual((300, 517), ImageHeader.ReadSize(new MemoryStream(MinimalJpegHeader(300, 517))));
        Assert.AreEqual((1, 65535), ImageHeader.ReadSize(new MemoryStream(MinimalJpegHeader(1, 65535))));
    }

    [TestMethod]
    public void ReadSize_Png_FromIhdr()
    {
        byte[] png = PalettePng.Encode(5, 11, new byte[55]);
        Assert.AreEqual((5, 11), ImageHeader.ReadSize(new MemoryStream(png)));
    }

    [TestMethod]
    public void ReadSize_BadInputs_ThrowWithSourceName()
    {
        var e = Assert.ThrowsExactly<ImageFormatException>(() => ImageHeader.ReadSize(new MemoryStream(MinimalJpegHeader(3, 4, withSof: false)), "x.jpg"));
        StringAssert.Contains(e.Message, "x.jpg");
        StringAssert.Contains(e.Message, "SOF");
        byte[] cut = MinimalJpegHeader(3, 4)[..30];
        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageHeader.ReadSize(new MemoryStream(cut), "cut.jpg"));
        StringAssert.Contains(e.Message, "truncated");
        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageHeader.ReadSize(new MemoryStream("BM......"u8.ToArray()), "a.bmp"));
        StringAssert.Contains(e.Message, "a.bmp");
        e = Assert.ThrowsExactly<ImageFormatException>(() => ImageHeader.ReadSize(new MemoryStream("labels,image\n"u8.ToArray()), "a.txt"));
        StringAssert.Contains(e.Message, "not an image format");
    }

    [TestMethod]
    public void ReadSize_IsTheDecodedSize_ForEveryExifOrientation_AndForWebPAndBmp()
    {
        // A dataset check compares this size with the mask's, so it must be the size Decode gives, turned by EXIF.
        var image = new RgbImage(24, 40);
        byte[] jpeg = TestImages.EncodeWithSkia(image, SkiaSharp.SKEncodedImageFormat.Jpeg);
        for (int orientation = 1; orientation <= 8; orientation++)
        {
            foreach (bool bigEndian in new[] { true, false })
            {
                byte[] turned = TestImages.WithExifOrientation(jpeg, orientation, bigEndian);
                RgbImage decoded = ImageCodec.Decode(turned, "exif.jpg");
                Assert.AreEqual((decoded.Height, decoded.Width), ImageHeader.ReadSize(new MemoryStream(turned), "exif.jpg"), $"orientation {orientation}");
                Assert.AreEqual(orientation >= 5 ? (40, 24) : (24, 40), (decoded.Height, decoded.Width));
            }
        }

        Assert.AreEqual((24, 40), ImageHeader.ReadSize(new MemoryStream(TestImages.EncodeWithSkia(image, SkiaSharp.SKEncodedImageFormat.Webp)), "a.webp"));
        Assert.AreEqual((24, 40), ImageHeader.ReadSize(new MemoryStream(TestImages.Bmp24(image)), "a.bmp"));
    }
}
