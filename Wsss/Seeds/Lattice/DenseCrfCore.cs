using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Wsss.Seeds.Lattice;

/// <summary>Validated dense CRF parameters (see <see cref="DenseCrfOptions"/>).</summary>
internal readonly record struct CrfParameters(
    float GaussianSxy, float GaussianCompat, float BilateralSxy, float BilateralSrgb, float BilateralCompat, int Iterations);

/// <summary>
/// Fully connected CRF (Kraehenbuehl and Koltun 2011) with mean-field inference exactly as pydensecrf
/// runs it (spec section 5): unary -log(clip(p, 1e-5, 1)), Q0 = softmax(-U), then per iteration
/// Q = softmax(-U + sum_m w_m n_m K_m(n_m Q)) with a Gaussian kernel on positions and a bilateral
/// kernel on positions and colour, symmetric normalisation n_m = 1/sqrt(K_m 1 + 1e-20). A managed port
/// of native/src/densecrf.cpp with the same floats.
/// </summary>
/// <remarks>
/// The normalisation and the compatibility weight are folded into per-point splat and slice weights,
/// so an iteration is splat, blur and slice only. Both kernels advance together through one set of
/// phases (splat, reduce, blur pass j, slice fused with the softmax): 9 dispatches per iteration instead
/// of 16. Labels are padded to a multiple of 4 (<see cref="PaddedLabels"/>); padding lanes of the
/// unary must be 0 and stay 0 in Q. Not thread-safe; buffers are kept and only grow.
/// </remarks>
internal sealed unsafe class DenseCrfCore
{
    private readonly Kernel gaussian = new();
    private readonly Kernel bilateral = new();
    private readonly Kernel[] active = new Kernel[2];
    private readonly PinnedBuffer<float> features = new();
    private readonly PinnedBuffer<float> negUnary = new();
    private readonly PinnedBuffer<float> q = new();
    private readonly PinnedBuffer<float> rows = new();
    private readonly WorkerTeam team = new();

    private readonly Action<int> weightsPart;
    private readonly Action<int> unaryPart;
    private readonly Action<int> initialSoftmaxPart;
    private readonly Action<int> splatPart;
    private readonly Action<int> reducePart;
    private readonly Action<int> blurPart;
    private readonly Action<int> slicePart;
    private readonly Action<int> copyPart;

    private long n;
    private int labels;
    private int cp;
    private int activeCount;

    // parameters of the phase being dispatched
    private Kernel? phaseKernel;
    private float* phasePointer;
    private int phaseParts;
    private int phaseWorkers;
    private int phasePass;
    private long phaseTotal;
    private Vector128<float> phaseLast;

    public DenseCrfCore()
    {
        weightsPart = WeightsPart;
        unaryPart = UnaryPart;
        initialSoftmaxPart = InitialSoftmaxPart;
        splatPart = SplatPart;
        reducePart = ReducePart;
        blurPart = BlurPart;
        slicePart = SlicePart;
        copyPart = CopyPart;
    }

    /// <summary>The marginals after <see cref="Run"/>, n x <see cref="PaddedLabels"/>.</summary>
    public float* Q => q.Pointer;

    /// <summary>Labels of the current unary.</summary>
    public int Labels => labels;

    /// <summary>Row length of the unary and the marginals (labels rounded up to a multiple of 4).</summary>
    public int PaddedLabels => cp;

    /// <summary>
    /// Builds both kernels' lattices for an image and folds the normalisation and the compatibility
    /// weights into the splat and slice weights. Several inferences may follow.
    /// </summary>
    public void SetImage(byte* rgbHwc, int height, int width, in CrfParameters parameters, int threads)
    {
        threads = WorkerTeam.Resolve(threads);
        n = (long)height * width;
        labels = 0;
        cp = 0;
        float* f = features.Ensure(n * 5);
        LatticeFeatures.Position(height, width, parameters.GaussianSxy, f);
        gaussian.Lattice.Build(f, n, 2, threads);
        LatticeFeatures.Bilateral(rgbHwc, height, width, parameters.BilateralSxy, parameters.BilateralSrgb, f);
        bilateral.Lattice.Build(f, n, 5, threads);
        foreach (Kernel k in (ReadOnlySpan<Kernel>)[gaussian, bilateral])
        {
            k.Compat = k == gaussian ? parameters.GaussianCompat : parameters.BilateralCompat;
            int d1 = k.Lattice.Dim + 1;
            k.Norm.Ensure(n);
            k.SplatWeight.Ensure(n * d1);
            k.SliceWeight.Ensure(n * d1);
            k.Lattice.ReserveValues(4, threads);
            k.Lattice.FilterOnes(k.Norm.Pointer, threads);
            phaseKernel = k;
            phaseParts = WorkerTeam.PartsFor(n, threads);
            team.Run(phaseParts, threads, weightsPart);
        }

        phaseKernel = null;
    }

    /// <summary>
    /// Prepares for <paramref name="count"/> labels and returns the n x <see cref="PaddedLabels"/>
    /// buffer the caller fills with log(clip(p, 1e-5, 1)) = -U (padding lanes 0).
    /// </summary>
    public float* BeginUnary(int count)
    {
        if (n < 1)
        {
            throw new InvalidOperationException("The CRF has no image: call SetImage first.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        labels = count;
        cp = LatticeKernels.Padded(count);
        q.Ensure(n * cp);
        return negUnary.Ensure(n * cp);
    }

    /// <summary>Fills the unary from planar probabilities (labels x n).</summary>
    public void FillUnaryFromProbabilities(float* probabilities, int threads)
    {
        threads = WorkerTeam.Resolve(threads);
        phasePointer = probabilities;
        phaseParts = WorkerTeam.PartsFor(n, threads);
        team.Run(phaseParts, threads, unaryPart);
    }

    /// <summary>Runs the inference; the marginals are then in <see cref="Q"/>.</summary>
    public void Run(int iterations, int threads)
    {
        if (labels < 1)
        {
            throw new InvalidOperationException("The CRF has no unary: call BeginUnary first.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(iterations);
        threads = WorkerTeam.Resolve(threads);
        gaussian.Lattice.ReserveValues(cp, threads);
        bilateral.Lattice.ReserveValues(cp, threads);
        activeCount = 0;
        int passes = 0;
        long vertices = 0;
        foreach (Kernel k in (ReadOnlySpan<Kernel>)[gaussian, bilateral])
        {
            if (k.Compat != 0f)
            {
                active[activeCount++] = k;
                passes = Math.Max(passes, k.Lattice.Dim + 1);
                vertices += k.Lattice.Vertices;
            }
        }

        int sliceParts = WorkerTeam.PartsFor(n, threads);
        rows.Ensure((long)sliceParts * cp);
        phaseLast = LatticeKernels.LastGroupMask(labels, cp);
        phaseWorkers = threads;
        phaseParts = sliceParts;
        team.Run(sliceParts, threads, initialSoftmaxPart);
        for (int it = 0; it < iterations; it++)
        {
            if (activeCount > 0)
            {
                team.Run(threads, threads, splatPart);
                if (threads > 1)
                {
                    phaseTotal = vertices;
                    phaseParts = WorkerTeam.PartsFor(vertices, threads);
                    team.Run(phaseParts, threads, reducePart);
                }

                for (int j = 0; j < passes; j++)
                {
                    long total = 0;
                    for (int a = 0; a < activeCount; a++)
                    {
                        total += j <= active[a].Lattice.Dim ? active[a].Lattice.Vertices : 0;
                    }

                    phasePass = j;
                    phaseTotal = total;
                    phaseParts = WorkerTeam.PartsFor(total, threads);
                    team.Run(phaseParts, threads, blurPart);
                }
            }

            phaseParts = sliceParts;
            team.Run(sliceParts, threads, slicePart);
        }
    }

    /// <summary>Copies the marginals out as planar labels x n.</summary>
    public void CopyQPlanar(float* output, int threads)
    {
        threads = WorkerTeam.Resolve(threads);
        phasePointer = output;
        phaseParts = WorkerTeam.PartsFor(n, threads);
        team.Run(phaseParts, threads, copyPart);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightsPart(int part)
    {
        Kernel k = phaseKernel!;
        int d1 = k.Lattice.Dim + 1;
        float* norm = k.Norm.Pointer;
        float* b = k.Lattice.Bary;
        float* spw = k.SplatWeight.Pointer;
        float* slw = k.SliceWeight.Pointer;
        float scale = k.Lattice.Alpha * k.Compat;
        (long p0, long p1) = WorkerTeam.Range(n, part, phaseParts);
        for (long p = p0; p < p1; p++)
        {
            float np = 1.0f / MathF.Sqrt(norm[p] + 1e-20f);
            norm[p] = np;
            for (long e = p * d1; e < (p + 1) * d1; e++)
            {
                spw[e] = b[e] * np;
                slw[e] = b[e] * scale * np;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void UnaryPart(int part)
    {
        float* probs = phasePointer;
        float* u = negUnary.Pointer;
        (long p0, long p1) = WorkerTeam.Range(n, part, phaseParts);
        for (long p = p0; p < p1; p++)
        {
            float* row = u + (p * cp);
            int k = 0;
            for (; k < labels; k++)
            {
                float v = probs[(k * n) + p];

                // NaN maps to the clip floor, as np.clip would not: a NaN unary would poison the pixel.
                row[k] = MathF.Log(v >= 1e-5f ? MathF.Min(v, 1.0f) : 1e-5f);
            }

            for (; k < cp; k++)
            {
                row[k] = 0f;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void InitialSoftmaxPart(int part)
    {
        float* nu = negUnary.Pointer;
        float* qq = q.Pointer;
        Vector128<float> last = phaseLast;
        (long p0, long p1) = WorkerTeam.Range(n, part, phaseParts);
        for (long p = p0; p < p1; p++)
        {
            LatticeKernels.Softmax(nu + (p * cp), cp, last, qq + (p * cp));
        }
    }

    private void SplatPart(int worker)
    {
        for (int a = 0; a < activeCount; a++)
        {
            active[a].Lattice.SplatPart(q.Pointer, cp, active[a].SplatWeight.Pointer, worker, phaseWorkers);
        }
    }

    // This part's share of the concatenated vertex ranges of the active lattices.
    private void ReducePart(int part)
    {
        (long s0, long s1) = WorkerTeam.Range(phaseTotal, part, phaseParts);
        long start = 0;
        for (int a = 0; a < activeCount; a++)
        {
            LatticeCore lat = active[a].Lattice;
            long m = lat.Vertices;
            long v0 = Math.Max(s0 - start, 0), v1 = Math.Min(s1 - start, m);
            if (v0 < v1)
            {
                lat.ReduceRange(phaseWorkers, cp, v0, v1);
            }

            start += m;
        }
    }

    private void BlurPart(int part)
    {
        (long s0, long s1) = WorkerTeam.Range(phaseTotal, part, phaseParts);
        int j = phasePass;
        long start = 0;
        for (int a = 0; a < activeCount; a++)
        {
            LatticeCore lat = active[a].Lattice;
            if (j > lat.Dim)
            {
                continue;
            }

            long m = lat.Vertices;
            long v0 = Math.Max(s0 - start, 0), v1 = Math.Min(s1 - start, m);
            if (v0 < v1)
            {
                lat.BlurPassRange(j, cp, v0, v1);
            }

            start += m;
        }
    }

    // Energies per point: -U plus each kernel's message, then Q = softmax right away (the C++ slices
    // blocks of 64 points into a scratch block first; per point the sums and their order are the same).
    // Fields are copied into locals: stores through the pointers could alias them, so the JIT would
    // reload them for every point.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SlicePart(int part)
    {
        int rowLength = cp;
        float* row = rows.Pointer + ((long)part * rowLength);
        float* nu = negUnary.Pointer;
        float* qq = q.Pointer;
        Vector128<float> last = phaseLast;
        int count = activeCount;
        Kernel? k0 = count > 0 ? active[0] : null;
        Kernel? k1 = count > 1 ? active[1] : null;
        int d10 = k0 != null ? k0.Lattice.Dim + 1 : 0, d11 = k1 != null ? k1.Lattice.Dim + 1 : 0;
        int* off0 = k0 != null ? k0.Lattice.Offsets : null, off1 = k1 != null ? k1.Lattice.Offsets : null;
        float* w0 = k0 != null ? k0.SliceWeight.Pointer : null, w1 = k1 != null ? k1.SliceWeight.Pointer : null;
        float* v0 = k0 != null ? k0.Lattice.Blurred : null, v1 = k1 != null ? k1.Lattice.Blurred : null;
        (long p0, long p1) = WorkerTeam.Range(n, part, phaseParts);
        if (rowLength == 4)
        {
            // 1 to 4 labels: the row stays in a register from the unary to Q.
            for (long p = p0; p < p1; p++)
            {
                Vector128<float> e = Vector128.Load(nu + (p * 4));
                if (count > 0)
                {
                    e += LatticeKernels.Slice4(off0 + (p * d10), w0 + (p * d10), d10, v0);
                    if (count > 1)
                    {
                        e += LatticeKernels.Slice4(off1 + (p * d11), w1 + (p * d11), d11, v1);
                    }
                }

                Vector128.Store(LatticeKernels.Softmax4(e, last), qq + (p * 4));
            }

            return;
        }

        for (long p = p0; p < p1; p++)
        {
            float* energy = nu + (p * rowLength);
            if (count > 0)
            {
                LatticeKernels.Slice(off0 + (p * d10), w0 + (p * d10), d10, 1f, v0, rowLength, row, energy);
                energy = row;
                if (count > 1)
                {
                    LatticeKernels.Slice(off1 + (p * d11), w1 + (p * d11), d11, 1f, v1, rowLength, row, row);
                }
            }

            LatticeKernels.Softmax(energy, rowLength, last, qq + (p * rowLength));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void CopyPart(int part)
    {
        float* output = phasePointer;
        float* qq = q.Pointer;
        (long p0, long p1) = WorkerTeam.Range(n, part, phaseParts);
        for (long p = p0; p < p1; p++)
        {
            for (int k = 0; k < labels; k++)
            {
                output[(k * n) + p] = qq[(p * cp) + k];
            }
        }
    }

    private sealed class Kernel
    {
        public LatticeCore Lattice { get; } = new();

        public PinnedBuffer<float> Norm { get; } = new();

        public PinnedBuffer<float> SplatWeight { get; } = new();

        public PinnedBuffer<float> SliceWeight { get; } = new();

        public float Compat { get; set; }
    }
}
