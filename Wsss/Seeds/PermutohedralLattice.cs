using Wsss.Imaging;
using Wsss.Seeds.Lattice;

namespace Wsss.Seeds;

/// <summary>
/// Gaussian filtering over arbitrary features (dimension 1 to 6) with the permutohedral lattice of
/// Adams, Baek and Davis (2010), in the variant of Kraehenbuehl's densecrf that the reference
/// implementations of RRM use (both the dense CRF and the energy loss's bilateral filter): the self
/// term is included and nothing is normalised.
/// </summary>
/// <remarks>
/// <para>The lattice approximates <c>out(i) = sum_j exp(-|f_i - f_j|^2 / 2) v(j)</c> only up to a
/// smooth, roughly constant factor: at the energy loss's settings (sxy 50, srgb 15) the lattice's
/// output is about 0.55x the exact sum. Ratios such as <c>Filter(v) / Filter(1)</c> are close to the
/// exact normalised Gaussian. Callers that need the reference's numbers (the energy loss's weight was
/// tuned against them) should use the lattice as it is.</para>
/// <para>Build once per feature set, then filter any number of value sets: the lattice and its
/// buffers are reused, and rebuilding an instance reuses its allocations. An instance is not meant for
/// concurrent use; calls are serialised by a lock.</para>
/// <para>Managed code (System.Runtime.Intrinsics); the algorithm is in the internal
/// <c>Wsss.Seeds.Lattice.LatticeCore</c>.</para>
/// </remarks>
public sealed class PermutohedralLattice : IDisposable
{
    private readonly Lock gate = new();
    private LatticeCore? core = new();
    private PinnedBuffer<float>? bilateralFeatures;
    private int threads = 1;

    /// <summary>Creates an empty lattice; call one of the Build methods before filtering.</summary>
    public PermutohedralLattice()
    {
    }

    /// <summary>
    /// Threads used by Build and Filter (default 1; 0 means all cores). Building and filtering split
    /// points and lattice vertices between threads.
    /// </summary>
    public int Threads
    {
        get => threads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            threads = value;
        }
    }

    /// <summary>Number of points of the last build (0 before the first).</summary>
    public long Points { get; private set; }

    /// <summary>Feature dimension of the last build.</summary>
    public int Dimensions { get; private set; }

    /// <summary>Number of lattice vertices of the last build (a measure of the filtering cost).</summary>
    public long Vertices { get; private set; }

    /// <summary>Creates a lattice over <paramref name="points"/> feature vectors (row-major points x dimensions).</summary>
    public static PermutohedralLattice Create(ReadOnlySpan<float> features, int points, int dimensions, int threads = 1)
    {
        var lattice = new PermutohedralLattice { Threads = threads };
        try
        {
            lattice.Build(features, points, dimensions);
            return lattice;
        }
        catch
        {
            lattice.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a lattice over the bilateral features (x/sxy, y/sxy, R/srgb, G/srgb, B/srgb) of an image,
    /// x being the column; the points are the pixels in row-major order.
    /// </summary>
    public static PermutohedralLattice CreateBilateral(RgbImage image, float sxy, float srgb, int threads = 1)
    {
        var lattice = new PermutohedralLattice { Threads = threads };
        try
        {
            lattice.BuildBilateral(image, sxy, srgb);
            return lattice;
        }
        catch
        {
            lattice.Dispose();
            throw;
        }
    }

    /// <summary>Rebuilds the lattice over new features (row-major points x dimensions, dimensions 1 to 6).</summary>
    /// <exception cref="ArgumentException">The span is shorter than points x dimensions, or a feature
    /// is too large for the lattice's integer coordinates (|feature| above about 1e5).</exception>
    public unsafe void Build(ReadOnlySpan<float> features, int points, int dimensions)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(points);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dimensions, 6);
        if (features.Length < (long)points * dimensions)
        {
            throw new ArgumentException(
                $"{points} points of {dimensions} features need {(long)points * dimensions} floats, got {features.Length}.",
                nameof(features));
        }

        lock (gate)
        {
            LatticeCore lattice = Core;
            try
            {
                fixed (float* f = features)
                {
                    lattice.Build(f, points, dimensions, threads);
                }
            }
            finally
            {
                RefreshInfo(lattice);
            }
        }
    }

    /// <summary>Rebuilds the lattice over the bilateral features of an image (see <see cref="CreateBilateral"/>).</summary>
    public void BuildBilateral(RgbImage image, float sxy, float srgb)
    {
        ArgumentNullException.ThrowIfNull(image);
        BuildBilateral(image.Pixels, image.Height, image.Width, sxy, srgb);
    }

    /// <summary>Rebuilds the lattice over the bilateral features of an RGB image given as height x width x 3 bytes.</summary>
    public unsafe void BuildBilateral(ReadOnlySpan<byte> rgbHwc, int height, int width, float sxy, float srgb)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sxy);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(srgb);
        SeedChecks.RequireLength(rgbHwc.Length, (long)height * width * 3, nameof(rgbHwc), "image bytes");
        lock (gate)
        {
            LatticeCore lattice = Core;
            long n = (long)height * width;
            bilateralFeatures ??= new PinnedBuffer<float>();
            float* features = bilateralFeatures.Ensure(n * 5);
            try
            {
                fixed (byte* p = rgbHwc)
                {
                    LatticeFeatures.Bilateral(p, height, width, sxy, srgb, features);
                }

                lattice.Build(features, n, 5, threads);
            }
            finally
            {
                RefreshInfo(lattice);
            }
        }
    }

    /// <summary>
    /// Filters <paramref name="channels"/> planes of values (channels x points, planar) into
    /// <paramref name="output"/> (same layout; must not overlap the input).
    /// </summary>
    /// <exception cref="InvalidOperationException">The lattice has not been built.</exception>
    public unsafe void Filter(ReadOnlySpan<float> values, int channels, Span<float> output)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        lock (gate)
        {
            LatticeCore lattice = Core;
            if (Points == 0)
            {
                throw new InvalidOperationException("The lattice has not been built: call Build or BuildBilateral first.");
            }

            long need = Points * channels;
            SeedChecks.RequireLength(values.Length, need, nameof(values), "values");
            SeedChecks.RequireLength(output.Length, need, nameof(output), "output values");
            fixed (float* i = values)
            fixed (float* o = output)
            {
                lattice.FilterPlanar(i, channels, o, threads);
            }
        }
    }

    /// <summary>Filters into a new array (channels x points).</summary>
    public float[] Filter(ReadOnlySpan<float> values, int channels)
    {
        var output = new float[checked(Points * channels)];
        Filter(values, channels, output);
        return output;
    }

    /// <summary>Releases the lattice's buffers; the instance cannot be used afterwards.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            core = null;
            bilateralFeatures = null;
        }
    }

    private LatticeCore Core => core ?? throw new ObjectDisposedException(nameof(PermutohedralLattice));

    // A failed build leaves the lattice unbuilt (Points 0), so Filter reports it instead of using stale vertices.
    private void RefreshInfo(LatticeCore lattice)
    {
        Points = lattice.Points;
        Dimensions = lattice.Points > 0 ? lattice.Dim : 0;
        Vertices = lattice.Vertices;
    }
}
