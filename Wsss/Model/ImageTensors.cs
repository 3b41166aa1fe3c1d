using Wsss.Engine;
using Wsss.Imaging;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>Conversions between interleaved uint8 RGB images and normalised NCHW float tensors.</summary>
public static class ImageTensors
{
    /// <summary>
    /// Stacks equally sized images into a normalised (N, 3, H, W) Float32 tensor on <paramref name="device"/>.
    /// Where <paramref name="validMasks"/> marks a pixel as padding (0), the value is 0 (the dataset mean),
    /// as the reference pads normalised images with zeros.
    /// </summary>
    /// <exception cref="ArgumentException">The images differ in size or the list is empty.</exception>
    public static Tensor ToTensor(IReadOnlyList<RgbImage> images, InputNormalization normalization, Device device, IReadOnlyList<byte[]>? validMasks = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(normalization);
        if (images.Count == 0)
        {
            throw new ArgumentException("at least one image is needed", nameof(images));
        }

        int h = images[0].Height, w = images[0].Width, plane = h * w;
        var data = new float[checked(images.Count * 3 * plane)];
        Span<float> mul = stackalloc float[3];
        Span<float> add = stackalloc float[3];
        for (int c = 0; c < 3; c++)
        {
            (mul[c], add[c]) = normalization.GetChannelAffine(c);
        }

        for (int n = 0; n < images.Count; n++)
        {
            var img = images[n];
            if (img.Height != h || img.Width != w)
            {
                throw new ArgumentException($"image {n} is {img.Height}x{img.Width}, the first is {h}x{w}; batch images must share a size.", nameof(images));
            }

            byte[]? valid = validMasks?[n];
            byte[] px = img.Pixels;
            int baseOffset = n * 3 * plane;
            for (int i = 0; i < plane; i++)
            {
                if (valid is not null && valid[i] == 0)
                {
                    continue;
                }

                data[baseOffset + i] = (px[3 * i] * mul[0]) + add[0];
                data[baseOffset + plane + i] = (px[(3 * i) + 1] * mul[1]) + add[1];
                data[baseOffset + (2 * plane) + i] = (px[(3 * i) + 2] * mul[2]) + add[2];
            }
        }

        TorchEngine.EnsureLoaded();
        return tensor(data, [images.Count, 3, h, w], device: device);
    }
}
