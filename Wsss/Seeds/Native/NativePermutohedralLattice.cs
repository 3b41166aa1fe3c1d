// DELETE WITH THE C++: see NativeSeedParams.cs.
using Wsss.Interop;

namespace Wsss.Seeds.Native;

/// <summary>
/// The C++ lattice (native/src/lattice.cpp) behind <see cref="PermutohedralLattice"/>'s API, kept only
/// so that `bench seeds` and the native-comparison tests can run it beside the managed one.
/// </summary>
internal sealed class NativePermutohedralLattice : IDisposable
{
    private readonly LatticeHandle handle;

    public NativePermutohedralLattice()
    {
        NativeMethods.Check(NativeMethods.wsss_lattice_create(out handle));
    }

    public int Threads { get; set; } = 1;

    public long Points { get; private set; }

    public int Dimensions { get; private set; }

    public long Vertices { get; private set; }

    public unsafe void Build(ReadOnlySpan<float> features, int points, int dimensions)
    {
        SeedChecks.RequireLength(features.Length, (long)points * dimensions, nameof(features), "features");
        fixed (float* f = features)
        {
            NativeMethods.Check(NativeMethods.wsss_lattice_build(handle, f, points, dimensions, Threads));
        }

        RefreshInfo();
    }

    public unsafe void BuildBilateral(ReadOnlySpan<byte> rgbHwc, int height, int width, float sxy, float srgb)
    {
        SeedChecks.RequireLength(rgbHwc.Length, (long)height * width * 3, nameof(rgbHwc), "image bytes");
        fixed (byte* p = rgbHwc)
        {
            NativeMethods.Check(NativeMethods.wsss_lattice_build_bilateral(handle, p, height, width, sxy, srgb, Threads));
        }

        RefreshInfo();
    }

    public unsafe void Filter(ReadOnlySpan<float> values, int channels, Span<float> output)
    {
        SeedChecks.RequireLength(values.Length, Points * channels, nameof(values), "values");
        SeedChecks.RequireLength(output.Length, Points * channels, nameof(output), "output values");
        fixed (float* i = values)
        fixed (float* o = output)
        {
            NativeMethods.Check(NativeMethods.wsss_lattice_filter(handle, i, channels, o, Threads));
        }
    }

    public float[] Filter(ReadOnlySpan<float> values, int channels)
    {
        var output = new float[checked(Points * channels)];
        Filter(values, channels, output);
        return output;
    }

    public void Dispose() => handle.Dispose();

    private void RefreshInfo()
    {
        NativeMethods.Check(NativeMethods.wsss_lattice_info(handle, out long points, out int dim, out long vertices));
        Points = points;
        Dimensions = dim;
        Vertices = vertices;
    }
}
