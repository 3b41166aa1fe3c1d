using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Wsss.Interop;

/// <summary>P/Invokes of the seeds domain (native/include/wsss_seeds.h).</summary>
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)]
    internal static partial int wsss_lattice_create(out LatticeHandle lattice);

    [LibraryImport(Library)]
    internal static partial int wsss_lattice_free(nint lattice);

    [LibraryImport(Library)]
    internal static partial int wsss_lattice_build(LatticeHandle lattice, float* features, long n, int d, int threads);

    [LibraryImport(Library)]
    internal static partial int wsss_lattice_build_bilateral(
        LatticeHandle lattice, byte* rgbHwc, int height, int width, float sxy, float srgb, int threads);

    [LibraryImport(Library)]
    internal static partial int wsss_lattice_info(LatticeHandle lattice, out long points, out int dim, out long vertices);

    [LibraryImport(Library)]
    internal static partial int wsss_lattice_filter(LatticeHandle lattice, float* input, int channels, float* output, int threads);

    [LibraryImport(Library)]
    internal static partial int wsss_bilateral_batch_create(out BilateralBatchHandle batch);

    [LibraryImport(Library)]
    internal static partial int wsss_bilateral_batch_free(nint batch);

    [LibraryImport(Library)]
    internal static partial int wsss_bilateral_batch_filter(
        BilateralBatchHandle batch, byte* imagesHwc, int count, int height, int width, float* input, int channels,
        float sxy, float srgb, float* output, int threads);

    [LibraryImport(Library)]
    internal static partial int wsss_crf_create(out CrfHandle crf);

    [LibraryImport(Library)]
    internal static partial int wsss_crf_free(nint crf);

    [LibraryImport(Library)]
    internal static partial int wsss_crf_inference(
        CrfHandle crf, byte* rgbHwc, int height, int width, float* probs, int labels, CrfParams* parameters,
        float* qOut, int threads);

    [LibraryImport(Library)]
    internal static partial int wsss_seeds_create(out SeedsHandle seeds);

    [LibraryImport(Library)]
    internal static partial int wsss_seeds_free(nint seeds);

    [LibraryImport(Library)]
    internal static partial int wsss_seeds_compute(
        SeedsHandle seeds, byte* imagesHwc, int count, int height, int width, byte* labels, float* cams, int classes,
        SeedParams* parameters, byte* output, int threads);

    /// <summary>Mirror of wsss_crf_params.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CrfParams
    {
        public float GaussianSxy;
        public float GaussianCompat;
        public float BilateralSxy;
        public float BilateralSrgb;
        public float BilateralCompat;
        public int Iterations;
    }

    /// <summary>Mirror of wsss_seed_params.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SeedParams
    {
        public float LowBackgroundPower;
        public float HighBackgroundPower;
        public float CamPercentile;
        public float CamFloor;
        public float BackgroundCamThreshold;
        public float CrfConfidence;
        public CrfParams Crf;
    }
}

/// <summary>Owns a native wsss_lattice.</summary>
internal sealed class LatticeHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>Used by the marshaller.</summary>
    public LatticeHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle() => NativeMethods.wsss_lattice_free(handle) == 0;
}

/// <summary>Owns a native wsss_bilateral_batch.</summary>
internal sealed class BilateralBatchHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>Used by the marshaller.</summary>
    public BilateralBatchHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle() => NativeMethods.wsss_bilateral_batch_free(handle) == 0;
}

/// <summary>Owns a native wsss_crf.</summary>
internal sealed class CrfHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>Used by the marshaller.</summary>
    public CrfHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle() => NativeMethods.wsss_crf_free(handle) == 0;
}

/// <summary>Owns a native wsss_seeds.</summary>
internal sealed class SeedsHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>Used by the marshaller.</summary>
    public SeedsHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle() => NativeMethods.wsss_seeds_free(handle) == 0;
}
