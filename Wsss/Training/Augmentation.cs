using Wsss.Imaging;

namespace Wsss.Training;

/// <summary>One augmented, cropped image: the uint8 crop (kept for the CRFs and the energy loss) and which of its pixels are real.</summary>
/// <param name="Crop">Crop x crop RGB pixels; padding is black.</param>
/// <param name="Valid">Crop x crop bytes, 1 where the pixel comes from the image, 0 for padding.</param>
internal sealed record AugmentedImage(RgbImage Crop, byte[] Valid);

/// <summary>
/// The reference's training augmentation (spec section 6): one random scale per batch, horizontal flip,
/// then a random crop that pads when the image is smaller than the crop (the image is then placed at a
/// random position inside the crop, as the reference's RandomCrop does).
/// </summary>
internal static class Augmentation
{
    public static double BatchScale(Random rng, double min, double max) => min + (rng.NextDouble() * (max - min));

    public static AugmentedImage Apply(RgbImage image, double scale, bool flip, int crop, Random rng)
    {
        int h = Math.Max(1, (int)Math.Round(image.Height * scale));
        int w = Math.Max(1, (int)Math.Round(image.Width * scale));
        RgbImage scaled = h == image.Height && w == image.Width ? image : image.Resize(h, w, ResizeMode.Bilinear);

        // Offsets of the crop window in the image (img*) and of the image in the crop (cont*).
        var (contTop, imgTop) = Place(h, crop, rng);
        var (contLeft, imgLeft) = Place(w, crop, rng);
        int ch = Math.Min(crop, h), cw = Math.Min(crop, w);

        var result = new RgbImage(crop, crop);
        var valid = new byte[crop * crop];
        byte[] src = scaled.Pixels, dst = result.Pixels;
        for (int y = 0; y < ch; y++)
        {
            int sy = imgTop + y, dy = contTop + y;
            for (int x = 0; x < cw; x++)
            {
                int sx = imgLeft + x;
                if (flip)
                {
                    sx = w - 1 - sx;
                }

                int s = ((sy * w) + sx) * 3, d = ((dy * crop) + contLeft + x) * 3;
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
                valid[(dy * crop) + contLeft + x] = 1;
            }
        }

        return new AugmentedImage(result, valid);
    }

    /// <summary>
    /// The same geometry as <see cref="Apply"/> (and the same random draws) for an image and its label map:
    /// the labels are resized nearest and padding is labelled 255 (ignored), for the fully supervised
    /// comparison trainer.
    /// </summary>
    public static (AugmentedImage Image, byte[] Labels) ApplyWithLabels(RgbImage image, byte[] labels, double scale, bool flip, int crop, Random rng)
    {
        int h = Math.Max(1, (int)Math.Round(image.Height * scale));
        int w = Math.Max(1, (int)Math.Round(image.Width * scale));
        byte[] scaledLabels = h == image.Height && w == image.Width ? labels : ImageResize.ResizePlane(labels, image.Height, image.Width, h, w, ResizeMode.Nearest);
        var state = rng.Next();
        var augmented = Apply(image, scale, flip, crop, new Random(state));
        var rngCopy = new Random(state);
        var (contTop, imgTop) = Place(h, crop, rngCopy);
        var (contLeft, imgLeft) = Place(w, crop, rngCopy);
        int ch = Math.Min(crop, h), cw = Math.Min(crop, w);
        var result = new byte[crop * crop];
        Array.Fill(result, (byte)255);
        for (int y = 0; y < ch; y++)
        {
            for (int x = 0; x < cw; x++)
            {
                int sx = imgLeft + x;
                if (flip)
                {
                    sx = w - 1 - sx;
                }

                result[((contTop + y) * crop) + contLeft + x] = scaledLabels[((imgTop + y) * w) + sx];
            }
        }

        return (augmented, result);
    }

    private static (int Container, int Image) Place(int size, int crop, Random rng)
    {
        int space = size - crop;
        return space > 0 ? (0, rng.Next(space + 1)) : (rng.Next(-space + 1), 0);
    }
}

/// <summary>
/// Stateless, reproducible randomness: every draw derives from (seed, stream, index), so a resumed run
/// sees exactly the data order and augmentation of an uninterrupted one without saving generator state.
/// </summary>
internal static class DeterministicRandom
{
    public static Random For(int seed, ulong stream, long index) => new(unchecked((int)Mix((ulong)(uint)seed, stream, (ulong)index)));

    public static ulong Mix(ulong a, ulong b, ulong c)
    {
        ulong x = a * 0x9E3779B97F4A7C15UL ^ (b + 0xBF58476D1CE4E5B9UL) * 0x94D049BB133111EBUL ^ c;
        // SplitMix64 finaliser
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return x;
    }

    /// <summary>The dataset order of epoch <paramref name="epoch"/>: a Fisher-Yates shuffle.</summary>
    public static int[] Permutation(int seed, int epoch, int count)
    {
        var order = Enumerable.Range(0, count).ToArray();
        var rng = For(seed, 1, epoch);
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        return order;
    }
}
