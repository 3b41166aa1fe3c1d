using System.Runtime.CompilerServices;
namespace Wsss.Seeds.Lattice;

/// <summary>The feature vectors the reference implementations filter over.</summary>
internal static unsafe class LatticeFeatures
{
    /// <summary>
    /// Bilateral features (x/sxy, y/sxy, r/srgb, g/srgb, b/srgb) of an 8-bit RGB image (h x w x 3),
    /// x being the column, into n x 5 floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Bilateral(byte* rgbHwc, int height, int width, float sxy, float srgb, float* output)
    {
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                long p = ((long)y * width) + x;
                byte* px = rgbHwc + (p * 3);
                float* f = output + (p * 5);

                // Division (not multiplication by the inverse) as the references do, so that lattice
                // keys round identically.
                f[0] = x / sxy;
                f[1] = y / sxy;
                f[2] = px[0] / srgb;
                f[3] = px[1] / srgb;
                f[4] = px[2] / srgb;
            }
        }
    }

    /// <summary>Position features (x/sxy, y/sxy) into n x 2 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Position(int height, int width, float sxy, float* output)
    {
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                float* f = output + ((((long)y * width) + x) * 2);
                f[0] = x / sxy;
                f[1] = y / sxy;
            }
        }
    }
}
