using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Wsss.Tests.Engine;

/// <summary>Reading TorchSharp tensors back into arrays and comparing them with values computed in the test.</summary>
internal static class TensorAssert
{
    /// <summary>The elements as floats, row-major (a detached, contiguous CPU copy: views and GPU tensors read the same).</summary>
    public static float[] Floats(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().to(ScalarType.Float32, CPU).contiguous().data<float>().ToArray();
    }

    /// <summary>The elements as doubles, row-major (converted when needed).</summary>
    public static double[] Values(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().to(ScalarType.Float64, CPU).contiguous().data<double>().ToArray();
    }

    /// <summary>The elements as longs, row-major (for Int64 indices and counters).</summary>
    public static long[] Longs(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().to(ScalarType.Int64, CPU).contiguous().data<long>().ToArray();
    }

    public static void Close(ReadOnlySpan<double> expected, Tensor actual, double tolerance = 1e-5, string? what = null) =>
        Close(expected, Values(actual), tolerance, what);

    public static void Close(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double tolerance = 1e-5, string? what = null)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{what}: element count");
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(a) : Math.Abs(e - a) <= tolerance * Math.Max(1, Math.Abs(e));
            Assert.IsTrue(ok, $"{what}: element {i} is {a:R}, expected {e:R} (tolerance {tolerance})");
        }
    }

    public static void Shape(Tensor t, params long[] expected) =>
        CollectionAssert.AreEqual(expected, t.shape, $"shape ({string.Join(", ", t.shape)})");
}

/// <summary>
/// Gradient check: autograd's gradient of a scalar function against central finite differences, in
/// double precision. Inputs must be Float64; the function must be deterministic.
/// </summary>
internal static class GradCheck
{
    /// <summary>
    /// Compares d f / d inputs[k] for every element of every input. The error allowed on an element is
    /// <paramref name="relativeTolerance"/> of the larger of |numeric| and 1e-3 of the largest gradient
    /// component of that input: central differences with eps 1e-6 carry ~1e-10 absolute round-off, which
    /// would otherwise swamp the relative error of near-zero components.
    /// </summary>
    public static void Verify(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-6, double relativeTolerance = 1e-5)
    {
        foreach (var x in inputs)
        {
            Assert.AreEqual(ScalarType.Float64, x.dtype, "gradient checks run in Float64");
        }

        var values = inputs.Select(TensorAssert.Values).ToArray();
        var shapes = inputs.Select(x => x.shape).ToArray();

        var analytic = new double[inputs.Length][];
        using (var scope = NewDisposeScope())
        {
            var leaves = values.Select((v, k) => tensor(v, shapes[k], requires_grad: true)).ToArray();
            var y = f(leaves);
            Assert.AreEqual(0L, y.dim(), "the checked function must return a scalar");
            y.backward();
            for (int k = 0; k < leaves.Length; k++)
            {
                var g = leaves[k].grad;
                Assert.IsNotNull(g, $"input {k} received no gradient");
                analytic[k] = TensorAssert.Values(g);
            }
        }

        using (no_grad())
        {
            for (int k = 0; k < inputs.Length; k++)
            {
                double maxAbs = analytic[k].Select(Math.Abs).DefaultIfEmpty(0).Max();
                for (int i = 0; i < values[k].Length; i++)
                {
                    double keep = values[k][i];
                    values[k][i] = keep + eps;
                    double plus = Evaluate(f, values, shapes);
                    values[k][i] = keep - eps;
                    double minus = Evaluate(f, values, shapes);
                    values[k][i] = keep;
                    double numeric = (plus - minus) / (2 * eps);
                    double allowed = relativeTolerance * Math.Max(Math.Max(Math.Abs(numeric), 1e-3 * maxAbs), 1e-6);
                    Assert.IsTrue(Math.Abs(analytic[k][i] - numeric) <= allowed,
                        $"input {k} element {i}: autograd {analytic[k][i]:R}, finite differences {numeric:R} (allowed error {allowed:E2})");
                }
            }
        }
    }

    private static double Evaluate(Func<Tensor[], Tensor> f, double[][] values, long[][] shapes)
    {
        using var scope = NewDisposeScope();
        var xs = values.Select((v, k) => tensor(v, shapes[k])).ToArray();
        return f(xs).ToDouble();
    }
}
