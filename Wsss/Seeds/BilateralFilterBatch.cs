using Wsss.Seeds.Lattice;

namespace Wsss.Seeds;

/// <summary>
/// Bilateral (permutohedral-lattice Gaussian) filtering of a batch of equally sized images, as the
/// dense energy loss needs it: for each image, K value planes filtered over the features
/// (x/sxy, y/sxy, R/srgb, G/srgb, B/srgb) of that image. Images are processed in parallel, one
/// lattice per worker thread; the workers' lattices and buffers are kept for the next call.
/// </summary>
/// <remarks>The output is the unnormalised lattice filter with the self term (see
/// <see cref="PermutohedralLattice"/> for its scale relative to the exact Gaussian sum). Calls on one
/// instance are serialised by a lock. Managed code; the algorithm is in the internal
/// <c>Wsss.Seeds.Lattice.BilateralBatchCore</c>.</remarks>
public sealed class BilateralFilterBatch : IDisposable
{
    private readonly Lock gate = new();
    private BilateralBatchCore? core = new();
    private int threads;

    /// <summary>Creates a batch filter using <paramref name="threads"/> threads (0, the default, means all cores).</summary>
    public BilateralFilterBatch(int threads = 0)
    {
        SeedChecks.RequireThreads(threads);
        this.threads = threads;
    }

    /// <summary>
    /// Threads (0 means all cores). With at least as many images as threads, each thread filters whole
    /// images; otherwise the threads left over work inside an image.
    /// </summary>
    public int Threads
    {
        get => threads;
        set
        {
            SeedChecks.RequireThreads(value);
            threads = value;
        }
    }

    /// <summary>
    /// Filters <paramref name="input"/> (count x channels x height x width) by the bilateral features of
    /// <paramref name="imagesHwc"/> (count x height x width x 3 RGB bytes) into
    /// <paramref name="output"/> (same layout as the input, must not overlap it).
    /// </summary>
    public unsafe void Filter(
        ReadOnlySpan<byte> imagesHwc, int count, int height, int width, ReadOnlySpan<float> input, int channels,
        float sxy, float srgb, Span<float> output)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sxy);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(srgb);
        long pixels = (long)height * width;
        SeedChecks.RequireLength(imagesHwc.Length, count * pixels * 3, nameof(imagesHwc), "image bytes");
        SeedChecks.RequireLength(input.Length, count * pixels * channels, nameof(input), "input values");
        SeedChecks.RequireLength(output.Length, count * pixels * channels, nameof(output), "output values");
        if (!float.IsFinite(sxy) || !float.IsFinite(srgb))
        {
            throw new ArgumentOutOfRangeException(nameof(sxy), "sxy and srgb must be finite.");
        }

        lock (gate)
        {
            BilateralBatchCore batch = core ?? throw new ObjectDisposedException(nameof(BilateralFilterBatch));
            fixed (byte* img = imagesHwc)
            fixed (float* i = input)
            fixed (float* o = output)
            {
                batch.Filter(img, count, height, width, i, channels, sxy, srgb, o, threads);
            }
        }
    }

    /// <summary>Releases the workspaces (lattices and buffers); the instance cannot be used afterwards.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            core = null;
        }
    }
}
