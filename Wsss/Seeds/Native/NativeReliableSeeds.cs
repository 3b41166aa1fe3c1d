// DELETE WITH THE C++: see NativeSeedParams.cs.
using Wsss.Interop;

namespace Wsss.Seeds.Native;

/// <summary>The C++ seeds engine (native/src/seeds.cpp) behind <see cref="ReliableSeeds"/>'s batch API, for side-by-side runs only.</summary>
internal sealed class NativeReliableSeeds : IDisposable
{
    private readonly SeedsHandle handle;

    public NativeReliableSeeds(ReliableSeedOptions? options = null, int threads = 0)
    {
        Options = options ?? new ReliableSeedOptions();
        Threads = threads;
        NativeMethods.Check(NativeMethods.wsss_seeds_create(out handle));
    }

    public ReliableSeedOptions Options { get; set; }

    public int Threads { get; set; }

    public unsafe void ComputeBatch(
        ReadOnlySpan<byte> imagesHwc, int count, int height, int width, ReadOnlySpan<byte> labels, ReadOnlySpan<float> cams,
        int classes, Span<byte> output)
    {
        long pixels = (long)height * width;
        SeedChecks.RequireLength(imagesHwc.Length, count * pixels * 3, nameof(imagesHwc), "image bytes");
        SeedChecks.RequireLength(labels.Length, (long)count * classes, nameof(labels), "label entries");
        SeedChecks.RequireLength(cams.Length, count * classes * pixels, nameof(cams), "CAM values");
        SeedChecks.RequireLength(output.Length, count * pixels, nameof(output), "output labels");
        NativeMethods.SeedParams p = Options.ToParameters().ToNative();
        fixed (byte* img = imagesHwc)
        fixed (byte* lab = labels)
        fixed (float* cam = cams)
        fixed (byte* o = output)
        {
            NativeMethods.Check(NativeMethods.wsss_seeds_compute(
                handle, img, count, height, width, lab, cam, classes, &p, o, Threads));
        }
    }

    public void Dispose() => handle.Dispose();
}
