using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Wsss.Seeds.Lattice;

/// <summary>
/// The permutohedral lattice (Adams, Baek, Davis 2010) in the variant of Kraehenbuehl's densecrf, which
/// both reference implementations of RRM use: splat with barycentric weights, blur with [1/2 1 1/2]
/// along each of the d + 1 lattice directions, slice, scale by <see cref="Alpha"/> = 1 / (1 + 2^-d).
/// The self term is included and nothing is normalised. A managed port of the project's C++
/// (native/src/lattice.cpp) that computes the same floats: the elevation's float/double mix, the
/// splat partition between workers and every summation order are the C++'s.
/// </summary>
/// <remarks>
/// <para>Values are rows of <c>cp</c> floats per point or vertex (cp a multiple of 4, or 1 for the
/// filter of the constant). Vertex <see cref="Vertices"/> is an extra all-zero row that stands for
/// every missing neighbour, so the blur has no branches.</para>
/// <para>Splatting scatters: each worker reads its share of the points once, in order, and accumulates
/// into its own copy of the (cache-resident) vertex values; the copies are summed afterwards. A gather
/// would read every point d + 1 times in random order.</para>
/// <para>Not thread-safe; one build or filter at a time. Buffers are kept and only grow.</para>
/// </remarks>
internal sealed unsafe class LatticeCore
{
    /// <summary>Feature dimensions supported: the integer keys of d coordinates are packed in 128 bits.</summary>
    public const int MaxDim = 6;

    // Lattice coordinates are packed 3 per 64-bit word, 21 bits each, biased so that a field is never
    // negative; the margin keeps neighbour arithmetic (+-(d+1)) from borrowing across fields.
    private const int FieldBits = 21;
    private const long FieldBias = 1L << 20;
    private const long FieldLimit = FieldBias - 64;
    private const long FieldMask = (1L << FieldBits) - 1;

    private readonly WorkerTeam team = new();

    // per point-vertex pair (n * (d+1))
    private readonly PinnedBuffer<ulong> pointKeys = new();
    private readonly PinnedBuffer<int> offsets = new();
    private readonly PinnedBuffer<float> bary = new();

    // lattice vertices
    private readonly PinnedBuffer<ulong> keys = new();
    private readonly PinnedBuffer<int> table = new();
    private readonly PinnedBuffer<int> neighbours = new();

    // vertex values, (m+1) x cp each; splat copies of workers 1.. (worker 0 splats into valuesA)
    private readonly PinnedBuffer<float> valuesA = new();
    private readonly PinnedBuffer<float> valuesB = new();
    private readonly List<PinnedBuffer<float>> partials = [];

    // one row of cp floats per part of the planar filter's splat and slice
    private readonly PinnedBuffer<float> rows = new();

    private readonly float[] scaleFactor = new float[MaxDim];
    private readonly short[] canonical = new short[(MaxDim + 1) * (MaxDim + 1)];

    private readonly Action<int> elevatePart;
    private readonly Action<int> neighbourPart;
    private readonly Action<int> splatPlanarPart;
    private readonly Action<int> reducePart;
    private readonly Action<int> blurPart;
    private readonly Action<int> slicePlanarPart;
    private readonly Action<int> onesSplatPart;
    private readonly Action<int> onesBlurPart;
    private readonly Action<int> onesSlicePart;

    private long n;
    private int d;
    private long m;
    private bool built;
    private int tableBits;
    private long keyCount;
    private ulong one0;
    private ulong one1;

    // parameters of the phase being dispatched (the part delegates are created once, so a dispatch
    // allocates nothing)
    private float* phaseIn;
    private float* phaseOut;
    private int phaseCp;
    private int phaseChannels;
    private int phaseWorkers;
    private int phaseParts;
    private int phasePass;
    private volatile bool overflow;

    public LatticeCore()
    {
        elevatePart = ElevatePart;
        neighbourPart = NeighbourPart;
        splatPlanarPart = SplatPlanarPart;
        reducePart = ReducePart;
        blurPart = BlurPart;
        slicePlanarPart = SlicePlanarPart;
        onesSplatPart = OnesSplatPart;
        onesBlurPart = OnesBlurPart;
        onesSlicePart = OnesSlicePart;
    }

    /// <summary>Points of the last successful build (0 before the first or after a failed one).</summary>
    public long Points => built ? n : 0;

    /// <summary>Feature dimension of the last build.</summary>
    public int Dim => d;

    /// <summary>Lattice vertices of the last build.</summary>
    public long Vertices => built ? m : 0;

    /// <summary>The constant densecrf multiplies every slice with, 1 / (1 + 2^-d).</summary>
    public float Alpha { get; private set; } = 1f;

    /// <summary>Barycentric weight of vertex slot j of point p at [p * (d+1) + j].</summary>
    public float* Bary => bary.Pointer;

    /// <summary>Vertex of slot j of point p at [p * (d+1) + j].</summary>
    public int* Offsets => offsets.Pointer;

    /// <summary>The vertex values after all d + 1 blur passes ((m+1) x cp).</summary>
    public float* Blurred => (d + 1) % 2 == 0 ? valuesA.Pointer : valuesB.Pointer;

    /// <summary>Builds the lattice for n points with d features each (row-major n x d).</summary>
    /// <exception cref="ArgumentException">A feature is too large for the integer lattice coordinates.</exception>
    public void Build(float* features, long points, int dim, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dim, MaxDim);
        ArgumentOutOfRangeException.ThrowIfLessThan(points, 1);
        int d1 = dim + 1;
        if (points * d1 >= int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(points), points, "The lattice has too many points.");
        }

        threads = WorkerTeam.Resolve(threads);
        built = false;
        n = points;
        d = dim;
        m = 0;
        Alpha = 1.0f / (1.0f + MathF.Pow(2.0f, -dim));
        pointKeys.Ensure(n * d1 * 2);
        offsets.Ensure(n * d1);
        bary.Ensure(n * d1);
        keyCount = 0;

        // A table of about 2n slots to start with: enough for smooth kernels, grown when needed.
        int bits = 10;
        while ((1L << bits) < 2 * n && bits < 30)
        {
            bits++;
        }

        tableBits = bits;
        table.Ensure(1L << bits);
        table.AsSpan(1L << bits).Fill(-1);

        // Constants exactly as densecrf computes them (the same float/double mix), so that points land
        // in the same simplices as in the reference.
        float invStdDev = (float)(Math.Sqrt(2.0 / 3.0) * d1);
        for (int i = 0; i < dim; i++)
        {
            scaleFactor[i] = (float)(1.0 / Math.Sqrt((double)((i + 2) * (i + 1))) * invStdDev);
        }

        for (int i = 0; i <= dim; i++)
        {
            for (int j = 0; j <= dim - i; j++)
            {
                canonical[(i * d1) + j] = (short)i;
            }

            for (int j = dim - i + 1; j <= dim; j++)
            {
                canonical[(i * d1) + j] = (short)(i - d1);
            }
        }

        one0 = 0;
        one1 = 0;
        for (int i = 0; i < dim; i++)
        {
            if (i < 3)
            {
                one0 |= 1UL << FieldShift(i);
            }
            else
            {
                one1 |= 1UL << FieldShift(i);
            }
        }

        overflow = false;
        phaseIn = features;
        phaseParts = WorkerTeam.PartsFor(n, threads);
        team.Run(phaseParts, threads, elevatePart);
        if (overflow)
        {
            throw new ArgumentException(
                "Lattice features are too large for the lattice's integer coordinates (|feature| must stay below about 1e5, " +
                "and be a number): use larger standard deviations.",
                nameof(features));
        }

        InsertAll();
        m = keyCount;
        neighbours.Ensure(d1 * m * 2);
        phaseParts = WorkerTeam.PartsFor(m, threads);
        team.Run(phaseParts, threads, neighbourPart);
        built = true;
    }

    /// <summary>
    /// Makes the vertex value buffers large enough for cp channels and up to <paramref name="workers"/>
    /// splat workers, and zeroes the missing-neighbour row.
    /// </summary>
    public void ReserveValues(int cp, int workers)
    {
        cp = Math.Max(cp, 1);
        long need = (m + 1) * cp;
        valuesA.Ensure(need);
        valuesB.Ensure(need);
        for (int t = 0; t < workers - 1; t++)
        {
            if (partials.Count <= t)
            {
                partials.Add(new PinnedBuffer<float>());
            }

            partials[t].Ensure(need);
        }

        NativeMemory.Clear(valuesA.Pointer + (m * cp), (nuint)cp * sizeof(float));
        NativeMemory.Clear(valuesB.Pointer + (m * cp), (nuint)cp * sizeof(float));
    }

    /// <summary>
    /// Worker <paramref name="worker"/>'s share of a splat of n x cp interleaved values into its own
    /// buffer, weighted per point and vertex slot (null: the barycentric weights).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void SplatPart(float* input, int cp, float* weight, int worker, int workers)
    {
        float* w = weight != null ? weight : bary.Pointer;
        int d1 = d + 1;
        float* values = SplatBuffer(worker);
        NativeMemory.Clear(values, (nuint)(m * cp) * sizeof(float));
        int* off = offsets.Pointer;
        (long p0, long p1) = WorkerTeam.Range(n, worker, workers);
        if (cp == 4)
        {
            for (long p = p0; p < p1; p++)
            {
                LatticeKernels.Scatter4(off + (p * d1), w + (p * d1), d1, Vector128.Load(input + (p * 4)), values);
            }

            return;
        }

        for (long p = p0; p < p1; p++)
        {
            LatticeKernels.Scatter(off + (p * d1), w + (p * d1), d1, input + (p * cp), cp, values);
        }
    }

    /// <summary>Sums the splat buffers of workers 1.. into worker 0's, for vertices [v0, v1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ReduceRange(int workers, int cp, long v0, long v1)
    {
        float* dst = valuesA.Pointer + (v0 * cp);
        long count = (v1 - v0) * cp;
        for (int t = 1; t < workers; t++)
        {
            // Worker order per element, as the C++ (which loops workers inside vertices): the same sums.
            AddInto(dst, partials[t - 1].Pointer + (v0 * cp), count);
        }
    }

    /// <summary>Blur pass j (0..d) over vertices [v0, v1); passes alternate between the two buffers.</summary>
    public void BlurPassRange(int j, int cp, long v0, long v1)
    {
        float* src = j % 2 == 0 ? valuesA.Pointer : valuesB.Pointer;
        float* dst = j % 2 == 0 ? valuesB.Pointer : valuesA.Pointer;
        LatticeKernels.Blur(src, dst, neighbours.Pointer + ((long)j * m * 2), cp, v0, v1);
    }

    /// <summary>
    /// Plain filter of planar values (channels x n) into planar output: splat with the barycentric
    /// weights, blur, slice scaled by <see cref="Alpha"/>.
    /// </summary>
    public void FilterPlanar(float* input, int channels, float* output, int threads)
    {
        RequireBuilt();
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        threads = WorkerTeam.Resolve(threads);
        int cp = LatticeKernels.Padded(channels);
        int workers = threads;
        ReserveValues(cp, workers);
        int sliceParts = WorkerTeam.PartsFor(n, threads);
        rows.Ensure((long)Math.Max(workers, sliceParts) * cp);
        phaseIn = input;
        phaseOut = output;
        phaseCp = cp;
        phaseChannels = channels;
        phaseWorkers = workers;

        // Packing the planar input into rows happens inside the splat, point by point (no n x cp
        // scratch copy as in the C++); the values and their order are the same.
        team.Run(workers, threads, splatPlanarPart);
        BlurAll(cp, workers, threads);
        phaseParts = sliceParts;
        team.Run(sliceParts, threads, slicePlanarPart);
    }

    /// <summary>out[p] = the filter of the constant 1 at point p (the CRF's normalisation).</summary>
    public void FilterOnes(float* output, int threads)
    {
        RequireBuilt();
        threads = WorkerTeam.Resolve(threads);
        int workers = threads;
        ReserveValues(1, workers);
        phaseOut = output;
        phaseWorkers = workers;
        team.Run(workers, threads, onesSplatPart);
        valuesA.Pointer[m] = 0f;
        valuesB.Pointer[m] = 0f;
        if (workers > 1)
        {
            phaseCp = 1;
            phaseParts = WorkerTeam.PartsFor(m, threads);
            team.Run(phaseParts, threads, reducePart);
        }

        phaseParts = WorkerTeam.PartsFor(m, threads);
        for (int j = 0; j <= d; j++)
        {
            phasePass = j;
            team.Run(phaseParts, threads, onesBlurPart);
        }

        phaseParts = WorkerTeam.PartsFor(n, threads);
        team.Run(phaseParts, threads, onesSlicePart);
    }

    private static int FieldShift(int i) => FieldBits * (i % 3);

    // (int)x as the C++ gets it from cvttss2si: NaN and out-of-range values give int.MinValue (where
    // .NET saturates), so that they trip the overflow check as they do there.
    private static int TruncateLikeX86(float x) => x >= -2147483648f && x < 2147483648f ? (int)x : int.MinValue;

    private static ulong Hash(ulong a, ulong b)
    {
        unchecked
        {
            ulong h = (a * 0x9E3779B97F4A7C15UL) ^ ((b + 0x632BE59BD9B4E019UL) * 0xC2B2AE3D27D4EB4FUL);
            h ^= h >> 31;
            h *= 0xBF58476D1CE4E5B9UL;
            h ^= h >> 29;
            return h;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddInto(float* dst, float* src, long count)
    {
        long i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= count; i += 16)
            {
                Vector512.Store(Vector512.Load(dst + i) + Vector512.Load(src + i), dst + i);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= count; i += 8)
            {
                Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
            }
        }

        for (; i < count; i++)
        {
            dst[i] += src[i];
        }
    }

    private void RequireBuilt()
    {
        if (!built)
        {
            throw new InvalidOperationException("The lattice has not been built: call Build or BuildBilateral first.");
        }
    }

    private float* SplatBuffer(int worker) => worker == 0 ? valuesA.Pointer : partials[worker - 1].Pointer;

    private void BlurAll(int cp, int workers, int threads)
    {
        phaseCp = cp;
        phaseWorkers = workers;
        phaseParts = WorkerTeam.PartsFor(m, threads);
        if (workers > 1)
        {
            team.Run(phaseParts, threads, reducePart);
        }

        for (int j = 0; j <= d; j++)
        {
            phasePass = j;
            team.Run(phaseParts, threads, blurPart);
        }
    }

    // Phase 1 of the build, per point: elevate onto the hyperplane, find the enclosing simplex, its
    // d+1 vertex keys and the barycentric weights. The arithmetic (float/double mix, tie rules) is
    // densecrf's, so that points land in the same simplices as in the reference.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ElevatePart(int part)
    {
        int dim = d, d1 = d + 1;
        float* elevated = stackalloc float[MaxDim + 1];
        float* rem0 = stackalloc float[MaxDim + 1];
        float* barycentric = stackalloc float[MaxDim + 2];
        int* rank = stackalloc int[MaxDim + 1];
        float* sf = stackalloc float[MaxDim];
        short* canon = stackalloc short[(MaxDim + 1) * (MaxDim + 1)];
        for (int i = 0; i < MaxDim; i++)
        {
            sf[i] = scaleFactor[i];
        }

        for (int i = 0; i < canonical.Length; i++)
        {
            canon[i] = canonical[i];
        }

        float* features = phaseIn;
        ulong* pkeys = pointKeys.Pointer;
        float* baryOut = bary.Pointer;
        bool overflowed = false;
        float downFactor = 1.0f / d1;
        float upFactor = d1;
        (long p0, long p1) = WorkerTeam.Range(n, part, phaseParts);
        long k = p0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float>* block = stackalloc Vector256<float>[(4 * (MaxDim + 1)) + 1];
            ulong* blockKeys = stackalloc ulong[2 * 8 * (MaxDim + 1)];
            for (; k + 8 <= p1; k += 8)
            {
                overflowed |= ElevateBlock(k, sf, block, blockKeys);
            }
        }

        for (; k < p1; k++)
        {
            float* f = features + (k * dim);
            float sm = 0;
            for (int j = dim; j > 0; j--)
            {
                float cf = f[j - 1] * sf[j - 1];
                elevated[j] = sm - (j * cf);
                sm += cf;
            }

            elevated[0] = sm;

            int sum = 0;
            for (int i = 0; i <= dim; i++)
            {
                float v = downFactor * elevated[i];
                float up = MathF.Ceiling(v) * upFactor;
                float down = MathF.Floor(v) * upFactor;
                int rd2 = TruncateLikeX86(up - elevated[i] < elevated[i] - down ? up : down);
                rem0[i] = rd2;

                // The C++ accumulates into an int through float (int += float): the same truncation.
                sum = (int)(sum + (rd2 * downFactor));
            }

            for (int i = 0; i <= dim; i++)
            {
                rank[i] = 0;
            }

            for (int i = 0; i < dim; i++)
            {
                double di = elevated[i] - rem0[i];
                for (int j = i + 1; j <= dim; j++)
                {
                    if (di < elevated[j] - rem0[j])
                    {
                        rank[i]++;
                    }
                    else
                    {
                        rank[j]++;
                    }
                }
            }

            for (int i = 0; i <= dim; i++)
            {
                rank[i] += sum;
                if (rank[i] < 0)
                {
                    rank[i] += d1;
                    rem0[i] += d1;
                }
                else if (rank[i] > dim)
                {
                    rank[i] -= d1;
                    rem0[i] -= d1;
                }
            }

            // Finite features below the key limit always give ranks 0..d. NaN or huge ones need not (the
            // C++ then writes outside its barycentric array): reject the point before indexing with them.
            bool ranked = true;
            for (int i = 0; i <= dim; i++)
            {
                ranked &= (uint)rank[i] <= (uint)dim;
            }

            if (!ranked)
            {
                overflowed = true;
                continue;
            }

            for (int i = 0; i <= dim + 1; i++)
            {
                barycentric[i] = 0;
            }

            for (int i = 0; i <= dim; i++)
            {
                float v = (elevated[i] - rem0[i]) * downFactor;
                barycentric[dim - rank[i]] += v;
                barycentric[dim - rank[i] + 1] -= v;
            }

            // densecrf adds in double here (1.0 is a double literal there); kept for identical weights.
            barycentric[0] = (float)(barycentric[0] + (1.0 + barycentric[dim + 1]));

            for (int remainder = 0; remainder <= dim; remainder++)
            {
                ulong k0 = 0, k1 = 0;
                for (int i = 0; i < dim; i++)
                {
                    long key = (long)rem0[i] + canon[(remainder * d1) + rank[i]];
                    overflowed |= key <= -FieldLimit || key >= FieldLimit;
                    ulong field = (ulong)((key + FieldBias) & FieldMask);
                    if (i < 3)
                    {
                        k0 |= field << FieldShift(i);
                    }
                    else
                    {
                        k1 |= field << FieldShift(i);
                    }
                }

                long e = (k * d1) + remainder;
                pkeys[2 * e] = k0;
                pkeys[(2 * e) + 1] = k1;
                baryOut[e] = barycentric[remainder];
            }
        }

        if (overflowed)
        {
            overflow = true;
        }
    }

    /// <summary>
    /// The elevation of points k..k+7 at once, one point per lane: the scalar loop's operations lane by
    /// lane (its comparisons and selections become masks), so the keys and weights are the same bits.
    /// Returns whether a key overflowed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool ElevateBlock(long k, float* sf, Vector256<float>* scratch, ulong* blockKeys)
    {
        int dim = d, d1 = d + 1;
        Vector256<float>* el = scratch;
        Vector256<float>* rem = scratch + (MaxDim + 1);
        Vector256<int>* rank = (Vector256<int>*)(scratch + (2 * (MaxDim + 1)));
        Vector256<float>* bc = scratch + (3 * (MaxDim + 1));
        float* f = phaseIn + (k * dim);
        Vector256<float> downFactor = Vector256.Create(1.0f / d1);
        Vector256<float> upFactor = Vector256.Create((float)d1);

        Vector256<float> sm = Vector256<float>.Zero;
        for (int j = dim; j > 0; j--)
        {
            int c = j - 1;
            Vector256<float> feature = Vector256.Create(
                f[c], f[dim + c], f[(2 * dim) + c], f[(3 * dim) + c], f[(4 * dim) + c], f[(5 * dim) + c], f[(6 * dim) + c], f[(7 * dim) + c]);
            Vector256<float> cf = feature * Vector256.Create(sf[c]);
            el[j] = sm - (Vector256.Create((float)j) * cf);
            sm += cf;
        }

        el[0] = sm;
        Vector256<int> sum = Vector256<int>.Zero;
        for (int i = 0; i <= dim; i++)
        {
            Vector256<float> v = downFactor * el[i];
            Vector256<float> up = Vector256.Ceiling(v) * upFactor;
            Vector256<float> down = Vector256.Floor(v) * upFactor;
            Vector256<float> nearer = Vector256.ConditionalSelect(Vector256.LessThan(up - el[i], el[i] - down), up, down);
            rem[i] = nearer;
            sum = Vector256.ConvertToInt32Native(Vector256.ConvertToSingle(sum) + (nearer * downFactor));
        }

        for (int i = 0; i <= dim; i++)
        {
            rank[i] = Vector256<int>.Zero;
        }

        for (int i = 0; i < dim; i++)
        {
            Vector256<float> di = el[i] - rem[i];
            for (int j = i + 1; j <= dim; j++)
            {
                Vector256<int> less = Vector256.LessThan(di, el[j] - rem[j]).AsInt32();
                rank[i] -= less;
                rank[j] += less + Vector256<int>.One;
            }
        }

        Vector256<int> width = Vector256.Create(d1);
        Vector256<int> top = Vector256.Create(dim);
        for (int i = 0; i <= dim; i++)
        {
            Vector256<int> r = rank[i] + sum;
            Vector256<int> shift = (Vector256.LessThan(r, Vector256<int>.Zero) & width) - (Vector256.GreaterThan(r, top) & width);
            rank[i] = r + shift;
            rem[i] += Vector256.ConvertToSingle(shift);
        }

        for (int t = 0; t <= dim + 1; t++)
        {
            bc[t] = Vector256<float>.Zero;
        }

        for (int i = 0; i <= dim; i++)
        {
            Vector256<float> v = (el[i] - rem[i]) * downFactor;
            Vector256<int> slot = top - rank[i];
            for (int t = 0; t <= dim + 1; t++)
            {
                Vector256<int> target = Vector256.Create(t);
                bc[t] += v & Vector256.Equals(slot, target).AsSingle();
                bc[t] -= v & Vector256.Equals(slot + Vector256<int>.One, target).AsSingle();
            }
        }

        // densecrf adds in double here; kept for identical weights.
        Vector256<double> one = Vector256.Create(1.0);
        bc[0] = Vector256.Narrow(
            Vector256.WidenLower(bc[0]) + (one + Vector256.WidenLower(bc[dim + 1])),
            Vector256.WidenUpper(bc[0]) + (one + Vector256.WidenUpper(bc[dim + 1])));

        // Keys: remainder r's coordinate i is rem0[i] + canonical[r][rank[i]], which is rem0[i] + r, less
        // d + 1 where rank[i] > d - r.
        // NaN must fail explicitly: only x86's conversion turns it into int.MinValue (ARM gives 0).
        // Beyond the key limit plus the largest canonical offset the key check below fails anyway.
        Vector256<int> bad = Vector256<int>.Zero;
        Vector256<float> remLimit = Vector256.Create((float)(FieldLimit + 16));
        for (int i = 0; i < dim; i++)
        {
            bad |= ~Vector256.LessThan(Vector256.Abs(rem[i]), remLimit).AsInt32();
        }

        Vector256<int> fieldMask = Vector256.Create((int)FieldMask);
        Vector256<int> bias = Vector256.Create((int)FieldBias);
        Vector256<int> low = Vector256.Create((int)-FieldLimit);
        Vector256<int> high = Vector256.Create((int)FieldLimit);
        for (int r = 0; r <= dim; r++)
        {
            Vector256<ulong> k0Low = Vector256<ulong>.Zero, k0High = Vector256<ulong>.Zero;
            Vector256<ulong> k1Low = Vector256<ulong>.Zero, k1High = Vector256<ulong>.Zero;
            Vector256<int> limit = Vector256.Create(dim - r);
            for (int i = 0; i < dim; i++)
            {
                Vector256<int> key = Vector256.ConvertToInt32Native(rem[i]) + Vector256.Create(r) -
                    (Vector256.GreaterThan(rank[i], limit) & width);
                bad |= Vector256.LessThanOrEqual(key, low) | Vector256.GreaterThanOrEqual(key, high);
                Vector256<uint> field = ((key + bias) & fieldMask).AsUInt32();
                int shift = FieldShift(i);
                if (i < 3)
                {
                    k0Low |= Vector256.WidenLower(field) << shift;
                    k0High |= Vector256.WidenUpper(field) << shift;
                }
                else
                {
                    k1Low |= Vector256.WidenLower(field) << shift;
                    k1High |= Vector256.WidenUpper(field) << shift;
                }
            }

            ulong* words = blockKeys + (r * 16);
            Vector256.Store(k0Low, words);
            Vector256.Store(k0High, words + 4);
            Vector256.Store(k1Low, words + 8);
            Vector256.Store(k1High, words + 12);
        }

        ulong* pkeys = pointKeys.Pointer;
        float* baryOut = bary.Pointer;
        for (int lane = 0; lane < 8; lane++)
        {
            long e0 = (k + lane) * d1;
            for (int r = 0; r <= dim; r++)
            {
                pkeys[2 * (e0 + r)] = blockKeys[(r * 16) + lane];
                pkeys[(2 * (e0 + r)) + 1] = blockKeys[(r * 16) + 8 + lane];
                baryOut[e0 + r] = ((float*)(bc + r))[lane];
            }
        }

        return bad != Vector256<int>.Zero;
    }

    // Phase 2, serial: vertex numbers in order of first appearance. Neighbouring points mostly share
    // vertices: a one-entry cache per vertex slot skips most hash probes.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void InsertAll()
    {
        int d1 = d + 1;
        ulong* pkeys = pointKeys.Pointer;
        int* off = offsets.Pointer;
        ulong* last0 = stackalloc ulong[MaxDim + 1];
        ulong* last1 = stackalloc ulong[MaxDim + 1];
        int* lastV = stackalloc int[MaxDim + 1];
        for (int j = 0; j < d1; j++)
        {
            lastV[j] = -1;
        }

        long pairs = n * d1;
        for (long e0 = 0; e0 < pairs; e0 += d1)
        {
            for (int j = 0; j < d1; j++)
            {
                long e = e0 + j;
                ulong k0 = pkeys[2 * e], k1 = pkeys[(2 * e) + 1];
                if (lastV[j] >= 0 && last0[j] == k0 && last1[j] == k1)
                {
                    off[e] = lastV[j];
                }
                else
                {
                    int v = Insert(k0, k1);
                    off[e] = v;
                    last0[j] = k0;
                    last1[j] = k1;
                    lastV[j] = v;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Insert(ulong k0, ulong k1)
    {
        ulong mask = (1UL << tableBits) - 1;
        int* slots = table.Pointer;
        ulong* keyWords = keys.Pointer;
        ulong i = Hash(k0, k1) & mask;
        while (true)
        {
            int v = slots[i];
            if (v < 0)
            {
                break;
            }

            if (keyWords[2 * v] == k0 && keyWords[(2 * v) + 1] == k1)
            {
                return v;
            }

            i = (i + 1) & mask;
        }

        int added = (int)keyCount;
        if ((keyCount + 1) * 2 > keys.Capacity)
        {
            keyWords = keys.Grow(Math.Max(keys.Capacity * 2, 8192), keyCount * 2);
        }

        keyWords[2 * added] = k0;
        keyWords[(2 * added) + 1] = k1;
        keyCount++;
        slots[i] = added;

        // Load factor at most 1/2 keeps linear probing short.
        if ((ulong)(added + 1) * 2 > (1UL << tableBits))
        {
            Rehash(tableBits + 1);
        }

        return added;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Rehash(int bits)
    {
        tableBits = bits;
        int* slots = table.Ensure(1L << bits);
        table.AsSpan(1L << bits).Fill(-1);
        ulong mask = (1UL << bits) - 1;
        ulong* keyWords = keys.Pointer;
        for (long v = 0; v < keyCount; v++)
        {
            ulong i = Hash(keyWords[2 * v], keyWords[(2 * v) + 1]) & mask;
            while (slots[i] >= 0)
            {
                i = (i + 1) & mask;
            }

            slots[i] = (int)v;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Find(ulong k0, ulong k1)
    {
        ulong mask = (1UL << tableBits) - 1;
        int* slots = table.Pointer;
        ulong* keyWords = keys.Pointer;
        ulong i = Hash(k0, k1) & mask;
        while (true)
        {
            int v = slots[i];
            if (v < 0)
            {
                return -1;
            }

            if (keyWords[2 * v] == k0 && keyWords[(2 * v) + 1] == k1)
            {
                return v;
            }

            i = (i + 1) & mask;
        }
    }

    // Phase 3: the two neighbours of every vertex along each lattice direction (missing ones point at
    // the zero row m).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void NeighbourPart(int part)
    {
        int dim = d, d1 = d + 1;
        ulong* keyWords = keys.Pointer;
        int* nbAll = neighbours.Pointer;
        (long v0, long v1) = WorkerTeam.Range(m, part, phaseParts);
        for (long v = v0; v < v1; v++)
        {
            ulong k0 = keyWords[2 * v], k1 = keyWords[(2 * v) + 1];
            for (int j = 0; j <= dim; j++)
            {
                ulong a0 = k0 - one0, a1 = k1 - one1;
                ulong b0 = k0 + one0, b1 = k1 + one1;
                if (j < dim)
                {
                    ulong step = (ulong)d1 << FieldShift(j);
                    if (j < 3)
                    {
                        a0 += step;
                        b0 -= step;
                    }
                    else
                    {
                        a1 += step;
                        b1 -= step;
                    }
                }

                int n1 = Find(a0, a1);
                int n2 = Find(b0, b1);
                int* nb = nbAll + ((((long)j * m) + v) * 2);
                nb[0] = n1 < 0 ? (int)m : n1;
                nb[1] = n2 < 0 ? (int)m : n2;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SplatPlanarPart(int worker)
    {
        int cp = phaseCp, channels = phaseChannels, d1 = d + 1;
        float* values = SplatBuffer(worker);
        NativeMemory.Clear(values, (nuint)(m * cp) * sizeof(float));
        float* row = rows.Pointer + ((long)worker * cp);
        for (int k = channels; k < cp; k++)
        {
            row[k] = 0f;
        }

        float* input = phaseIn;
        float* w = bary.Pointer;
        int* off = offsets.Pointer;
        long points = n;
        (long p0, long p1) = WorkerTeam.Range(points, worker, phaseWorkers);
        for (long p = p0; p < p1; p++)
        {
            for (int k = 0; k < channels; k++)
            {
                row[k] = input[(k * points) + p];
            }

            LatticeKernels.Scatter(off + (p * d1), w + (p * d1), d1, row, cp, values);
        }
    }

    private void ReducePart(int part)
    {
        (long v0, long v1) = WorkerTeam.Range(m, part, phaseParts);
        ReduceRange(phaseWorkers, phaseCp, v0, v1);
    }

    private void BlurPart(int part)
    {
        (long v0, long v1) = WorkerTeam.Range(m, part, phaseParts);
        BlurPassRange(phasePass, phaseCp, v0, v1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SlicePlanarPart(int part)
    {
        int cp = phaseCp, channels = phaseChannels, d1 = d + 1;
        float* row = rows.Pointer + ((long)part * cp);
        float* values = Blurred;
        float* output = phaseOut;
        float* w = bary.Pointer;
        int* off = offsets.Pointer;
        float alpha = Alpha;
        long points = n;
        (long p0, long p1) = WorkerTeam.Range(points, part, phaseParts);
        for (long p = p0; p < p1; p++)
        {
            LatticeKernels.Slice(off + (p * d1), w + (p * d1), d1, alpha, values, cp, row, null);
            for (int k = 0; k < channels; k++)
            {
                output[(k * points) + p] = row[k];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OnesSplatPart(int worker)
    {
        int d1 = d + 1;
        float* values = SplatBuffer(worker);
        NativeMemory.Clear(values, (nuint)m * sizeof(float));
        int* off = offsets.Pointer;
        float* bw = bary.Pointer;
        (long p0, long p1) = WorkerTeam.Range(n, worker, phaseWorkers);
        for (long e = p0 * d1; e < p1 * d1; e++)
        {
            values[off[e]] += bw[e];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OnesBlurPart(int part)
    {
        int j = phasePass;
        float* src = j % 2 == 0 ? valuesA.Pointer : valuesB.Pointer;
        float* dst = j % 2 == 0 ? valuesB.Pointer : valuesA.Pointer;
        int* nb = neighbours.Pointer + ((long)j * m * 2);
        (long v0, long v1) = WorkerTeam.Range(m, part, phaseParts);
        for (long v = v0; v < v1; v++)
        {
            dst[v] = src[v] + (0.5f * (src[nb[2 * v]] + src[nb[(2 * v) + 1]]));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OnesSlicePart(int part)
    {
        int d1 = d + 1;
        float* src = Blurred;
        float* output = phaseOut;
        int* off = offsets.Pointer;
        float* bw = bary.Pointer;
        float alpha = Alpha;
        (long p0, long p1) = WorkerTeam.Range(n, part, phaseParts);
        for (long p = p0; p < p1; p++)
        {
            float s = 0f;
            for (int j = 0; j < d1; j++)
            {
                s += bw[(p * d1) + j] * src[off[(p * d1) + j]];
            }

            output[p] = s * alpha;
        }
    }
}
