using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Wsss.Seeds.Lattice;

/// <summary>
/// The per-point and per-vertex inner loops of the lattice and the CRF, over rows of <c>cp</c> floats
/// (a multiple of 4). Every operation is lane-wise multiply and add in float, in the same order as the
/// C++ implementation (no fused multiply-add, which would round differently), so the results do not
/// depend on the vector width: 512-, 256- and 128-bit registers are used as the row length allows.
/// </summary>
internal static unsafe class LatticeKernels
{
    /// <summary>Rows are padded to groups of 4 floats (the C++'s SSE width; it fixes the softmax's summation order).</summary>
    public static int Padded(int channels) => (channels + 3) & ~3;

    /// <summary>values[o[j]] += w[j] * src for j in 0..d1-1 (one point's splat).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scatter(int* o, float* w, int d1, float* src, int cp, float* values)
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c + 16 <= cp; c += 16)
            {
                Vector512<float> x = Vector512.Load(src + c);
                for (int j = 0; j < d1; j++)
                {
                    float* dst = values + ((nint)o[j] * cp) + c;
                    Vector512.Store(Vector512.Load(dst) + (Vector512.Create(w[j]) * x), dst);
                }
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; c + 8 <= cp; c += 8)
            {
                Vector256<float> x = Vector256.Load(src + c);
                for (int j = 0; j < d1; j++)
                {
                    float* dst = values + ((nint)o[j] * cp) + c;
                    Vector256.Store(Vector256.Load(dst) + (Vector256.Create(w[j]) * x), dst);
                }
            }
        }

        for (; c < cp; c += 4)
        {
            Vector128<float> x = Vector128.Load(src + c);
            for (int j = 0; j < d1; j++)
            {
                float* dst = values + ((nint)o[j] * cp) + c;
                Vector128.Store(Vector128.Load(dst) + (Vector128.Create(w[j]) * x), dst);
            }
        }
    }

    /// <summary>
    /// dst = add + scale * sum_j w[j] * values[o[j]] (add null: no addend); the sum starts at 0 and runs
    /// over j in order. dst may be add.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Slice(int* o, float* w, int d1, float scale, float* values, int cp, float* dst, float* add)
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c + 16 <= cp; c += 16)
            {
                Vector512<float> acc = Vector512<float>.Zero;
                for (int j = 0; j < d1; j++)
                {
                    acc += Vector512.Create(w[j]) * Vector512.Load(values + ((nint)o[j] * cp) + c);
                }

                acc *= Vector512.Create(scale);
                Vector512.Store(add != null ? Vector512.Load(add + c) + acc : acc, dst + c);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; c + 8 <= cp; c += 8)
            {
                Vector256<float> acc = Vector256<float>.Zero;
                for (int j = 0; j < d1; j++)
                {
                    acc += Vector256.Create(w[j]) * Vector256.Load(values + ((nint)o[j] * cp) + c);
                }

                acc *= Vector256.Create(scale);
                Vector256.Store(add != null ? Vector256.Load(add + c) + acc : acc, dst + c);
            }
        }

        for (; c < cp; c += 4)
        {
            Vector128<float> acc = Vector128<float>.Zero;
            for (int j = 0; j < d1; j++)
            {
                acc += Vector128.Create(w[j]) * Vector128.Load(values + ((nint)o[j] * cp) + c);
            }

            acc *= Vector128.Create(scale);
            Vector128.Store(add != null ? Vector128.Load(add + c) + acc : acc, dst + c);
        }
    }

    /// <summary>One blur pass over vertices [v0, v1): dst[v] = src[v] + 0.5 (src[a] + src[b]) with a, b its neighbours.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Blur(float* src, float* dst, int* nb, int cp, long v0, long v1)
    {
        if (cp == 4)
        {
            // The 3-label CRF's case: one 128-bit row per vertex.
            Vector128<float> half4 = Vector128.Create(0.5f);
            for (long v = v0; v < v1; v++)
            {
                Vector128<float> s = Vector128.Load(src + ((nint)nb[2 * v] * 4)) + Vector128.Load(src + ((nint)nb[(2 * v) + 1] * 4));
                Vector128.Store(Vector128.Load(src + (v * 4)) + (half4 * s), dst + (v * 4));
            }

            return;
        }

        Vector512<float> half16 = Vector512.Create(0.5f);
        Vector256<float> half8 = Vector256.Create(0.5f);
        Vector128<float> half = Vector128.Create(0.5f);
        for (long v = v0; v < v1; v++)
        {
            float* o = src + (v * cp);
            float* a = src + ((nint)nb[2 * v] * cp);
            float* b = src + ((nint)nb[(2 * v) + 1] * cp);
            float* t = dst + (v * cp);
            int c = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                for (; c + 16 <= cp; c += 16)
                {
                    Vector512<float> s = Vector512.Load(a + c) + Vector512.Load(b + c);
                    Vector512.Store(Vector512.Load(o + c) + (half16 * s), t + c);
                }
            }

            if (Vector256.IsHardwareAccelerated)
            {
                for (; c + 8 <= cp; c += 8)
                {
                    Vector256<float> s = Vector256.Load(a + c) + Vector256.Load(b + c);
                    Vector256.Store(Vector256.Load(o + c) + (half8 * s), t + c);
                }
            }

            for (; c < cp; c += 4)
            {
                Vector128<float> s = Vector128.Load(a + c) + Vector128.Load(b + c);
                Vector128.Store(Vector128.Load(o + c) + (half * s), t + c);
            }
        }
    }

    /// <summary>Scatter for rows of 4 (1 to 4 labels): one register per point.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scatter4(int* o, float* w, int d1, Vector128<float> x, float* values)
    {
        for (int j = 0; j < d1; j++)
        {
            float* dst = values + ((nint)o[j] * 4);
            Vector128.Store(Vector128.Load(dst) + (Vector128.Create(w[j]) * x), dst);
        }
    }

    /// <summary>sum_j w[j] * values[o[j]] for rows of 4, starting at 0 (the order of <see cref="Slice"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Slice4(int* o, float* w, int d1, float* values)
    {
        Vector128<float> acc = Vector128<float>.Zero;
        for (int j = 0; j < d1; j++)
        {
            acc += Vector128.Create(w[j]) * Vector128.Load(values + ((nint)o[j] * 4));
        }

        return acc;
    }

    /// <summary><see cref="Softmax"/> of a row of 4 held in a register (same operations, same order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Softmax4(Vector128<float> e, Vector128<float> last)
    {
        Vector128<float> max = Vector128.ConditionalSelect(last, e, Vector128.Create(float.NegativeInfinity));
        max = Vector128.MaxNative(max, Vector128.Shuffle(max, Vector128.Create(2, 3, 0, 1)));
        max = Vector128.MaxNative(max, Vector128.Shuffle(max, Vector128.Create(1, 0, 3, 2)));
        Vector128<float> x = Exp(e - max) & last;
        float total = (x.GetElement(0) + x.GetElement(2)) + (x.GetElement(1) + x.GetElement(3));
        return x * Vector128.Create(1.0f / total);
    }

    /// <summary>Mask of the valid lanes of a row's last group of 4 (labels - (cp - 4) of them).</summary>
    public static Vector128<float> LastGroupMask(int labels, int cp)
    {
        int valid = labels - (cp - 4);
        return Vector128.LessThan(Vector128.Create(0, 1, 2, 3), Vector128.Create(valid)).AsSingle();
    }

    /// <summary>
    /// q = softmax(e) over the first labels entries of a row of cp; q's padding lanes become 0.
    /// The sum runs per lane over the groups of 4 in order, then (l0 + l2) + (l1 + l3): the C++'s
    /// order, so the marginals agree with it bit for bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Softmax(float* e, int cp, Vector128<float> last, float* q)
    {
        // MaxNative/MinNative are maxps/minps, the C++'s _mm_max_ps (Vector128.Max would follow IEEE
        // 754-2019 for NaN and signed zeros, and cost a fix-up per call).
        Vector128<float> negInf = Vector128.Create(float.NegativeInfinity);
        Vector128<float> max = negInf;
        for (int k = 0; k + 4 < cp; k += 4)
        {
            max = Vector128.MaxNative(max, Vector128.Load(e + k));
        }

        max = Vector128.MaxNative(max, Vector128.ConditionalSelect(last, Vector128.Load(e + cp - 4), negInf));
        max = Vector128.MaxNative(max, Vector128.Shuffle(max, Vector128.Create(2, 3, 0, 1)));
        max = Vector128.MaxNative(max, Vector128.Shuffle(max, Vector128.Create(1, 0, 3, 2)));

        Vector128<float> sum = Vector128<float>.Zero;
        int c = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> max8 = Vector256.Create(max, max);
            for (; c + 8 < cp; c += 8)
            {
                Vector256<float> x = Exp(Vector256.Load(e + c) - max8);
                sum += x.GetLower();
                sum += x.GetUpper();
                Vector256.Store(x, q + c);
            }
        }

        for (; c < cp; c += 4)
        {
            Vector128<float> x = Exp(Vector128.Load(e + c) - max);
            if (c + 4 == cp)
            {
                x &= last;
            }

            sum += x;
            Vector128.Store(x, q + c);
        }

        float total = (sum.GetElement(0) + sum.GetElement(2)) + (sum.GetElement(1) + sum.GetElement(3));
        float inv = 1.0f / total;
        c = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> inv8 = Vector256.Create(inv);
            for (; c + 8 <= cp; c += 8)
            {
                Vector256.Store(Vector256.Load(q + c) * inv8, q + c);
            }
        }

        Vector128<float> inv4 = Vector128.Create(inv);
        for (; c < cp; c += 4)
        {
            Vector128.Store(Vector128.Load(q + c) * inv4, q + c);
        }
    }

    // exp in float, relative error about 2e-7 (the Cephes polynomial of the C++; the softmax over
    // labels would cost as much as the filtering with a scalar exp). The same operations in the same
    // order at either width.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Exp(Vector128<float> x)
    {
        x = Vector128.MinNative(x, Vector128.Create(88.3762626647949f));
        x = Vector128.MaxNative(x, Vector128.Create(-87.3365478515625f));
        Vector128<float> fx = Vector128.Floor((x * Vector128.Create(1.44269504088896341f)) + Vector128.Create(0.5f));
        x -= fx * Vector128.Create(0.693359375f);
        x -= fx * Vector128.Create(-2.12194440e-4f);
        Vector128<float> z = x * x;
        Vector128<float> y = Vector128.Create(1.9875691500E-4f);
        y = (y * x) + Vector128.Create(1.3981999507E-3f);
        y = (y * x) + Vector128.Create(8.3334519073E-3f);
        y = (y * x) + Vector128.Create(4.1665795894E-2f);
        y = (y * x) + Vector128.Create(1.6666665459E-1f);
        y = (y * x) + Vector128.Create(5.0000001201E-1f);
        y = (y * z) + (x + Vector128<float>.One);
        Vector128<int> e = (Vector128.ConvertToInt32Native(fx) + Vector128.Create(127)) << 23;
        return y * e.AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.MinNative(x, Vector256.Create(88.3762626647949f));
        x = Vector256.MaxNative(x, Vector256.Create(-87.3365478515625f));
        Vector256<float> fx = Vector256.Floor((x * Vector256.Create(1.44269504088896341f)) + Vector256.Create(0.5f));
        x -= fx * Vector256.Create(0.693359375f);
        x -= fx * Vector256.Create(-2.12194440e-4f);
        Vector256<float> z = x * x;
        Vector256<float> y = Vector256.Create(1.9875691500E-4f);
        y = (y * x) + Vector256.Create(1.3981999507E-3f);
        y = (y * x) + Vector256.Create(8.3334519073E-3f);
        y = (y * x) + Vector256.Create(4.1665795894E-2f);
        y = (y * x) + Vector256.Create(1.6666665459E-1f);
        y = (y * x) + Vector256.Create(5.0000001201E-1f);
        y = (y * z) + (x + Vector256<float>.One);
        Vector256<int> e = (Vector256.ConvertToInt32Native(fx) + Vector256.Create(127)) << 23;
        return y * e.AsSingle();
    }
}
