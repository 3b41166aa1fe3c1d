using Wsss.Imaging;
using Wsss.Seeds.Lattice;

namespace Wsss.Seeds;

/// <summary>
/// The fully connected CRF of Kraehenbuehl and Koltun (2011) with mean-field inference as pydensecrf
/// runs it (spec section 5): unary <c>-log(clip(p, 1e-5, 1))</c>, <c>Q0 = softmax(-U)</c>, then per
/// iteration <c>Q = softmax(-U + sum_m w_m n_m K_m(n_m Q))</c> with a Gaussian kernel on positions, a
/// bilateral kernel on positions and colour, and <c>n_m = 1 / sqrt(K_m 1 + 1e-20)</c>. Filtering uses
/// the permutohedral lattice, which reproduces pydensecrf's marginals to float rounding.
/// </summary>
/// <remarks>The instance keeps its buffers between calls (no allocations once warmed up for an image
/// size and label count). Calls on one instance are serialised by a lock; use one instance per thread
/// for parallel work. Managed code; the algorithm is in the internal
/// <c>Wsss.Seeds.Lattice.DenseCrfCore</c>.</remarks>
public sealed class DenseCrf : IDisposable
{
    private readonly Lock gate = new();
    private DenseCrfCore? core = new();
    private int threads = 1;

    /// <summary>Creates a CRF with the given options (default: <see cref="DenseCrfOptions"/>'s training settings).</summary>
    public DenseCrf(DenseCrfOptions? options = null)
    {
        Options = options ?? new DenseCrfOptions();
    }

    /// <summary>The CRF parameters.</summary>
    public DenseCrfOptions Options { get; set; }

    /// <summary>Threads used inside one inference (default 1; 0 means all cores).</summary>
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
    /// Runs the inference on an image with per-label probabilities (labels x height x width, planar) and
    /// returns the marginals in the same layout. Probabilities need not sum to 1.
    /// </summary>
    public float[] Infer(RgbImage image, ReadOnlySpan<float> probabilities, int labels)
    {
        ArgumentNullException.ThrowIfNull(image);
        var q = new float[checked(labels * image.Height * image.Width)];
        Infer(image.Pixels, image.Height, image.Width, probabilities, labels, q);
        return q;
    }

    /// <summary>Runs the inference into <paramref name="marginals"/> (labels x height x width; may alias the probabilities).</summary>
    public void Infer(RgbImage image, ReadOnlySpan<float> probabilities, int labels, Span<float> marginals)
    {
        ArgumentNullException.ThrowIfNull(image);
        Infer(image.Pixels, image.Height, image.Width, probabilities, labels, marginals);
    }

    /// <summary>Runs the inference on an RGB image given as height x width x 3 bytes.</summary>
    public unsafe void Infer(
        ReadOnlySpan<byte> rgbHwc, int height, int width, ReadOnlySpan<float> probabilities, int labels, Span<float> marginals)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(labels);
        long pixels = (long)height * width;
        SeedChecks.RequireLength(rgbHwc.Length, pixels * 3, nameof(rgbHwc), "image bytes");
        SeedChecks.RequireLength(probabilities.Length, pixels * labels, nameof(probabilities), "probabilities");
        SeedChecks.RequireLength(marginals.Length, pixels * labels, nameof(marginals), "marginals");
        CrfParameters p = Options.ToParameters();
        lock (gate)
        {
            DenseCrfCore crf = core ?? throw new ObjectDisposedException(nameof(DenseCrf));
            fixed (byte* img = rgbHwc)
            fixed (float* probs = probabilities)
            fixed (float* q = marginals)
            {
                // The unary is taken from the probabilities before the marginals are written, so the two may alias.
                crf.SetImage(img, height, width, p, threads);
                crf.BeginUnary(labels);
                crf.FillUnaryFromProbabilities(probs, threads);
                crf.Run(p.Iterations, threads);
                crf.CopyQPlanar(q, threads);
            }
        }
    }

    /// <summary>Releases the workspace (lattices and buffers); the instance cannot be used afterwards.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            core = null;
        }
    }
}
