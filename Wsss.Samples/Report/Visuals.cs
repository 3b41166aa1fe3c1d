using Wsss.Imaging;

namespace Wsss.Samples.Report;

/// <summary>Pictures for people: coloured masks, overlays and CAM heat maps.</summary>
internal static class Visuals
{
    /// <summary>The VOC palette with 255 (ignore / unreliable) shown as white, for seed PNGs.</summary>
    public static byte[] SeedPalette { get; } = BuildSeedPalette();

    /// <summary>A mask in the VOC colours (255 white).</summary>
    public static RgbImage Colorize(SegmentationMask mask)
    {
        var image = new RgbImage(mask.Height, mask.Width);
        for (int i = 0; i < mask.Labels.Length; i++)
        {
            byte v = mask.Labels[i];
            image.Pixels[i * 3] = SeedPalette[v * 3];
            image.Pixels[(i * 3) + 1] = SeedPalette[(v * 3) + 1];
            image.Pixels[(i * 3) + 2] = SeedPalette[(v * 3) + 2];
        }

        return image;
    }

    /// <summary>The image with the palette colour of each foreground pixel blended over it (<paramref name="alpha"/> of the colour); background and ignore pixels stay as they are.</summary>
    public static RgbImage Overlay(RgbImage image, SegmentationMask mask, double alpha = 0.55)
    {
        if (image.Height != mask.Height || image.Width != mask.Width)
        {
            throw new ArgumentException($"The mask is {mask.Height}x{mask.Width} but the image is {image.Height}x{image.Width}.");
        }

        var result = image.Clone();
        for (int i = 0; i < mask.Labels.Length; i++)
        {
            byte v = mask.Labels[i];
            if (v == 0 || v == SegmentationMask.Ignore)
            {
                continue;
            }

            var (r, g, b) = VocPalette.Color(v);
            result.Pixels[i * 3] = Blend(image.Pixels[i * 3], r, alpha);
            result.Pixels[(i * 3) + 1] = Blend(image.Pixels[(i * 3) + 1], g, alpha);
            result.Pixels[(i * 3) + 2] = Blend(image.Pixels[(i * 3) + 2], b, alpha);
        }

        return result;
    }

    /// <summary>The per-pixel maximum of the CAMs (C x H x W, values in [0, 1]) as a jet-like heat map blended half over the image.</summary>
    public static RgbImage Heatmap(RgbImage image, float[] cams, int classes)
    {
        int plane = image.Height * image.Width;
        var result = new RgbImage(image.Height, image.Width);
        for (int i = 0; i < plane; i++)
        {
            float v = 0;
            for (int c = 0; c < classes; c++)
            {
                v = Math.Max(v, cams[(c * plane) + i]);
            }

            var (r, g, b) = Jet(Math.Clamp(v, 0f, 1f));
            result.Pixels[i * 3] = Blend(image.Pixels[i * 3], r, 0.6);
            result.Pixels[(i * 3) + 1] = Blend(image.Pixels[(i * 3) + 1], g, 0.6);
            result.Pixels[(i * 3) + 2] = Blend(image.Pixels[(i * 3) + 2], b, 0.6);
        }

        return result;
    }

    private static (byte R, byte G, byte B) Jet(float v)
    {
        static byte Ch(double x) => (byte)Math.Round(255 * Math.Clamp(x, 0, 1));
        return (Ch(1.5 - Math.Abs((4 * v) - 3)), Ch(1.5 - Math.Abs((4 * v) - 2)), Ch(1.5 - Math.Abs((4 * v) - 1)));
    }

    private static byte Blend(byte under, byte over, double alpha) => (byte)Math.Round(((1 - alpha) * under) + (alpha * over));

    private static byte[] BuildSeedPalette()
    {
        byte[] palette = VocPalette.Rgb.ToArray();
        palette[255 * 3] = palette[(255 * 3) + 1] = palette[(255 * 3) + 2] = 255;
        return palette;
    }
}
