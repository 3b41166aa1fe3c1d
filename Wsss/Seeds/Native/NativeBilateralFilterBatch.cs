// DELETE WITH THE C++: see NativeSeedParams.cs.
using Wsss.Interop;

namespace Wsss.Seeds.Native;

/// <summary>The C++ batch filter (native/src/seeds.cpp) behind <see cref="BilateralFilterBatch"/>'s API, for side-by-side runs only.</summary>
internal sealed class NativeBilateralFilterBatch : IDisposable
{
    private readonly BilateralBatchHandle handle;

    public NativeBilateralFilterBatch(int threads = 0)
    {
        Threads = threads;
        NativeMethods.Check(NativeMethods.wsss_bilateral_batch_create(out handle));
    }

    public int Threads { get; set; }

    public unsafe void Filter(
        ReadOnlySpan<byte> imagesHwc, int count, int height, int width, ReadOnlySpan<float> input, int channels,
        float sxy, float srgb, Span<float> output)
    {
        long pixels = (long)height * width;
        SeedChecks.RequireLength(imagesHwc.Length, count * pixels * 3, nameof(imagesHwc), "image bytes");
        SeedChecks.RequireLength(input.Length, count * pixels * channels, nameof(input), "input values");
        SeedChecks.RequireLength(output.Length, count * pixels * channels, nameof(output), "output values");
        fixed (byte* img = imagesHwc)
        fixed (float* i = input)
        fixed (float* o = output)
        {
            NativeMethods.Check(NativeMethods.wsss_bilateral_batch_filter(
                handle, img, count, height, width, i, channels, sxy, srgb, o, Threads));
        }
    }

    public void Dispose() => handle.Dispose();
}
