// DELETE WITH THE C++: see NativeSeedParams.cs.
using Wsss.Imaging;
using Wsss.Interop;

namespace Wsss.Seeds.Native;

/// <summary>The C++ dense CRF (native/src/densecrf.cpp) behind <see cref="DenseCrf"/>'s API, for side-by-side runs only.</summary>
internal sealed class NativeDenseCrf : IDisposable
{
    private readonly CrfHandle handle;

    public NativeDenseCrf(DenseCrfOptions? options = null)
    {
        Options = options ?? new DenseCrfOptions();
        NativeMethods.Check(NativeMethods.wsss_crf_create(out handle));
    }

    public DenseCrfOptions Options { get; set; }

    public int Threads { get; set; } = 1;

    public float[] Infer(RgbImage image, ReadOnlySpan<float> probabilities, int labels)
    {
        var q = new float[checked(labels * image.Height * image.Width)];
        Infer(image.Pixels, image.Height, image.Width, probabilities, labels, q);
        return q;
    }

    public void Infer(RgbImage image, ReadOnlySpan<float> probabilities, int labels, Span<float> marginals) =>
        Infer(image.Pixels, image.Height, image.Width, probabilities, labels, marginals);

    public unsafe void Infer(
        ReadOnlySpan<byte> rgbHwc, int height, int width, ReadOnlySpan<float> probabilities, int labels, Span<float> marginals)
    {
        long pixels = (long)height * width;
        SeedChecks.RequireLength(rgbHwc.Length, pixels * 3, nameof(rgbHwc), "image bytes");
        SeedChecks.RequireLength(probabilities.Length, pixels * labels, nameof(probabilities), "probabilities");
        SeedChecks.RequireLength(marginals.Length, pixels * labels, nameof(marginals), "marginals");
        NativeMethods.CrfParams p = Options.ToParameters().ToNative();
        fixed (byte* img = rgbHwc)
        fixed (float* probs = probabilities)
        fixed (float* q = marginals)
        {
            NativeMethods.Check(NativeMethods.wsss_crf_inference(handle, img, height, width, probs, labels, &p, q, Threads));
        }
    }

    public void Dispose() => handle.Dispose();
}
