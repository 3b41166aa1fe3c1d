using Wsss.Interop;

namespace Wsss.Torch;

public sealed partial class Tensor
{
    private Tensor Unary(UnaryOp op) => Wrap(NativeMethods.wsss_unary((int)op, Handle, out nint r), r);

    private Tensor Binary(BinaryOp op, Tensor other) => Wrap(NativeMethods.wsss_binary((int)op, Handle, other.Handle, out nint r), r);

    private Tensor Binary(BinaryOp op, double other) => Wrap(NativeMethods.wsss_binary_scalar((int)op, Handle, other, out nint r), r);

    /// <summary>Elementwise sum (broadcasting).</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Binary(BinaryOp.Add, b);

    /// <summary>Adds a scalar.</summary>
    public static Tensor operator +(Tensor a, double b) => a.Binary(BinaryOp.Add, b);

    /// <summary>Adds a scalar.</summary>
    public static Tensor operator +(double a, Tensor b) => b.Binary(BinaryOp.Add, a);

    /// <summary>Elementwise difference (broadcasting).</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Binary(BinaryOp.Sub, b);

    /// <summary>Subtracts a scalar.</summary>
    public static Tensor operator -(Tensor a, double b) => a.Binary(BinaryOp.Sub, b);

    /// <summary>Scalar minus tensor.</summary>
    public static Tensor operator -(double a, Tensor b) => b.Binary(BinaryOp.ReverseSub, a);

    /// <summary>Negation.</summary>
    public static Tensor operator -(Tensor a) => a.Unary(UnaryOp.Neg);

    /// <summary>Elementwise product (broadcasting).</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Binary(BinaryOp.Mul, b);

    /// <summary>Multiplies by a scalar.</summary>
    public static Tensor operator *(Tensor a, double b) => a.Binary(BinaryOp.Mul, b);

    /// <summary>Multiplies by a scalar.</summary>
    public static Tensor operator *(double a, Tensor b) => b.Binary(BinaryOp.Mul, a);

    /// <summary>Elementwise true division (broadcasting; integers give floats).</summary>
    public static Tensor operator /(Tensor a, Tensor b) => a.Binary(BinaryOp.Div, b);

    /// <summary>Divides by a scalar.</summary>
    public static Tensor operator /(Tensor a, double b) => a.Binary(BinaryOp.Div, b);

    /// <summary>Scalar divided by tensor.</summary>
    public static Tensor operator /(double a, Tensor b) => b.Binary(BinaryOp.ReverseDiv, a);

    /// <summary>Elementwise a &lt; b (Bool).</summary>
    public static Tensor operator <(Tensor a, Tensor b) => a.Binary(BinaryOp.Lt, b);

    /// <summary>Elementwise a &gt; b (Bool).</summary>
    public static Tensor operator >(Tensor a, Tensor b) => a.Binary(BinaryOp.Gt, b);

    /// <summary>Elementwise a &lt;= b (Bool).</summary>
    public static Tensor operator <=(Tensor a, Tensor b) => a.Binary(BinaryOp.Le, b);

    /// <summary>Elementwise a &gt;= b (Bool).</summary>
    public static Tensor operator >=(Tensor a, Tensor b) => a.Binary(BinaryOp.Ge, b);

    /// <summary>Elementwise a &lt; b (Bool).</summary>
    public static Tensor operator <(Tensor a, double b) => a.Binary(BinaryOp.Lt, b);

    /// <summary>Elementwise a &gt; b (Bool).</summary>
    public static Tensor operator >(Tensor a, double b) => a.Binary(BinaryOp.Gt, b);

    /// <summary>Elementwise a &lt;= b (Bool).</summary>
    public static Tensor operator <=(Tensor a, double b) => a.Binary(BinaryOp.Le, b);

    /// <summary>Elementwise a &gt;= b (Bool).</summary>
    public static Tensor operator >=(Tensor a, double b) => a.Binary(BinaryOp.Ge, b);

    /// <summary>Elementwise logical and of Bool tensors.</summary>
    public static Tensor operator &(Tensor a, Tensor b) => a.Binary(BinaryOp.LogicalAnd, b);

    /// <summary>Elementwise logical or of Bool tensors.</summary>
    public static Tensor operator |(Tensor a, Tensor b) => a.Binary(BinaryOp.LogicalOr, b);

    /// <summary>Elementwise logical not.</summary>
    public static Tensor operator !(Tensor a) => a.Unary(UnaryOp.LogicalNot);

    /// <summary>Elementwise equality (Bool). Named, because == on a reference type must stay reference equality.</summary>
    public Tensor Eq(Tensor other) => Binary(BinaryOp.Eq, other);

    /// <summary>Elementwise equality with a scalar (Bool).</summary>
    public Tensor Eq(double other) => Binary(BinaryOp.Eq, other);

    /// <summary>Elementwise inequality (Bool).</summary>
    public Tensor Ne(Tensor other) => Binary(BinaryOp.Ne, other);

    /// <summary>Elementwise inequality with a scalar (Bool).</summary>
    public Tensor Ne(double other) => Binary(BinaryOp.Ne, other);

    /// <summary>Elementwise power.</summary>
    public Tensor Pow(double exponent) => Binary(BinaryOp.Pow, exponent);

    /// <summary>Elementwise power with tensor exponents.</summary>
    public Tensor Pow(Tensor exponent) => Binary(BinaryOp.Pow, exponent);

    /// <summary>Elementwise maximum of two tensors.</summary>
    public Tensor Maximum(Tensor other) => Binary(BinaryOp.Maximum, other);

    /// <summary>Elementwise minimum of two tensors.</summary>
    public Tensor Minimum(Tensor other) => Binary(BinaryOp.Minimum, other);

    /// <summary>e^x.</summary>
    public Tensor Exp() => Unary(UnaryOp.Exp);

    /// <summary>Natural logarithm.</summary>
    public Tensor Log() => Unary(UnaryOp.Log);

    /// <summary>log(1 + x).</summary>
    public Tensor Log1p() => Unary(UnaryOp.Log1p);

    /// <summary>Square root.</summary>
    public Tensor Sqrt() => Unary(UnaryOp.Sqrt);

    /// <summary>1 / sqrt(x).</summary>
    public Tensor Rsqrt() => Unary(UnaryOp.Rsqrt);

    /// <summary>x * x.</summary>
    public Tensor Square() => Unary(UnaryOp.Square);

    /// <summary>Absolute value.</summary>
    public Tensor Abs() => Unary(UnaryOp.Abs);

    /// <summary>Sign (-1, 0, 1).</summary>
    public Tensor Sign() => Unary(UnaryOp.Sign);

    /// <summary>Rounds down.</summary>
    public Tensor Floor() => Unary(UnaryOp.Floor);

    /// <summary>Rounds up.</summary>
    public Tensor Ceil() => Unary(UnaryOp.Ceil);

    /// <summary>Rounds half to even.</summary>
    public Tensor Round() => Unary(UnaryOp.Round);

    /// <summary>Logistic sigmoid.</summary>
    public Tensor Sigmoid() => Unary(UnaryOp.Sigmoid);

    /// <summary>Hyperbolic tangent.</summary>
    public Tensor Tanh() => Unary(UnaryOp.Tanh);

    /// <summary>max(x, 0).</summary>
    public Tensor Relu() => Unary(UnaryOp.Relu);

    /// <summary>True where the value is NaN.</summary>
    public Tensor IsNan() => Unary(UnaryOp.IsNan);

    /// <summary>True where the value is finite.</summary>
    public Tensor IsFinite() => Unary(UnaryOp.IsFinite);

    /// <summary>Zeros of the same shape, dtype and device.</summary>
    public Tensor ZerosLike() => Unary(UnaryOp.ZerosLike);

    /// <summary>Ones of the same shape, dtype and device.</summary>
    public Tensor OnesLike() => Unary(UnaryOp.OnesLike);

    /// <summary>Clamps into [min, max]; a null bound is open.</summary>
    public Tensor Clamp(double? min = null, double? max = null) =>
        Wrap(NativeMethods.wsss_clamp(Handle, min ?? 0, max ?? 0, min.HasValue ? 1 : 0, max.HasValue ? 1 : 0, out nint r), r);

    /// <summary>Copy with the elements where <paramref name="mask"/> is true set to <paramref name="value"/>.</summary>
    public Tensor MaskedFill(Tensor mask, double value) => Wrap(NativeMethods.wsss_masked_fill(Handle, mask.Handle, value, out nint r), r);

    /// <summary>Matrix product (batched, broadcasting).</summary>
    public Tensor MatMul(Tensor other) => Wrap(NativeMethods.wsss_matmul(Handle, other.Handle, out nint r), r);

    // ---------------------------------------------------------------- reductions

    private unsafe Tensor Reduce(ReduceOp op, ReadOnlySpan<long> dims, bool keepDim)
    {
        fixed (long* p = dims)
        {
            return Wrap(NativeMethods.wsss_reduce((int)op, Handle, p, dims.Length, keepDim ? 1 : 0, out nint r), r);
        }
    }

    /// <summary>Sum of all elements (a 0-d tensor).</summary>
    public Tensor Sum() => Reduce(ReduceOp.Sum, default, false);

    /// <summary>Sum over the given dimensions.</summary>
    public Tensor Sum(ReadOnlySpan<long> dims, bool keepDim = false) => Reduce(ReduceOp.Sum, dims, keepDim);

    /// <summary>Sum over one dimension.</summary>
    public Tensor Sum(long dim, bool keepDim = false) => Reduce(ReduceOp.Sum, [dim], keepDim);

    /// <summary>Mean of all elements.</summary>
    public Tensor Mean() => Reduce(ReduceOp.Mean, default, false);

    /// <summary>Mean over the given dimensions.</summary>
    public Tensor Mean(ReadOnlySpan<long> dims, bool keepDim = false) => Reduce(ReduceOp.Mean, dims, keepDim);

    /// <summary>Mean over one dimension.</summary>
    public Tensor Mean(long dim, bool keepDim = false) => Reduce(ReduceOp.Mean, [dim], keepDim);

    /// <summary>Largest element.</summary>
    public Tensor Max() => Reduce(ReduceOp.Amax, default, false);

    /// <summary>Largest values over the given dimensions (no indices; see <see cref="MaxWithIndices"/>).</summary>
    public Tensor Amax(ReadOnlySpan<long> dims, bool keepDim = false) => Reduce(ReduceOp.Amax, dims, keepDim);

    /// <summary>Smallest element.</summary>
    public Tensor Min() => Reduce(ReduceOp.Amin, default, false);

    /// <summary>Smallest values over the given dimensions.</summary>
    public Tensor Amin(ReadOnlySpan<long> dims, bool keepDim = false) => Reduce(ReduceOp.Amin, dims, keepDim);

    /// <summary>Product of all elements.</summary>
    public Tensor Prod() => Reduce(ReduceOp.Prod, default, false);

    /// <summary>log(sum(exp(x))) over the given dimensions, computed stably.</summary>
    public Tensor LogSumExp(ReadOnlySpan<long> dims, bool keepDim = false) => Reduce(ReduceOp.LogSumExp, dims, keepDim);

    /// <summary>Maximum values and their indices along one dimension.</summary>
    public (Tensor Values, Tensor Indices) MaxWithIndices(long dim, bool keepDim = false)
    {
        NativeMethods.Check(NativeMethods.wsss_reduce_with_indices(0, Handle, dim, keepDim ? 1 : 0, out nint v, out nint i));
        return (new Tensor(v), new Tensor(i));
    }

    /// <summary>Minimum values and their indices along one dimension.</summary>
    public (Tensor Values, Tensor Indices) MinWithIndices(long dim, bool keepDim = false)
    {
        NativeMethods.Check(NativeMethods.wsss_reduce_with_indices(1, Handle, dim, keepDim ? 1 : 0, out nint v, out nint i));
        return (new Tensor(v), new Tensor(i));
    }

    /// <summary>Index of the largest element of the flattened tensor.</summary>
    public Tensor Argmax() => Wrap(NativeMethods.wsss_argmax(Handle, long.MinValue, 0, out nint r), r);

    /// <summary>Indices of the largest values along one dimension (Int64).</summary>
    public Tensor Argmax(long dim, bool keepDim = false) => Wrap(NativeMethods.wsss_argmax(Handle, dim, keepDim ? 1 : 0, out nint r), r);

    // ---------------------------------------------------------------- in place

    private void InPlace(InPlaceOp op, Tensor? other, double scalar)
    {
        nint b = 0;
        bool added = false;
        try
        {
            if (other is not null)
            {
                other.Handle.DangerousAddRef(ref added);
                b = other.Handle.DangerousGetHandle();
            }

            NativeMethods.Check(NativeMethods.wsss_inplace((int)op, Handle, b, scalar));
        }
        finally
        {
            if (added)
            {
                other!.Handle.DangerousRelease();
            }
        }
    }

    /// <summary>this += other, in place. Returns this tensor.</summary>
    public Tensor AddInPlace(Tensor other)
    {
        InPlace(InPlaceOp.Add, other, 0);
        return this;
    }

    /// <summary>this += value, in place. Returns this tensor.</summary>
    public Tensor AddInPlace(double value)
    {
        InPlace(InPlaceOp.Add, null, value);
        return this;
    }

    /// <summary>this *= other, in place. Returns this tensor.</summary>
    public Tensor MulInPlace(Tensor other)
    {
        InPlace(InPlaceOp.Mul, other, 0);
        return this;
    }

    /// <summary>this *= value, in place. Returns this tensor.</summary>
    public Tensor MulInPlace(double value)
    {
        InPlace(InPlaceOp.Mul, null, value);
        return this;
    }

    /// <summary>Copies <paramref name="source"/> (broadcast, converted) into this tensor. Returns this tensor.</summary>
    public Tensor CopyFrom(Tensor source)
    {
        InPlace(InPlaceOp.Copy, source, 0);
        return this;
    }

    /// <summary>Sets every element to <paramref name="value"/>. Returns this tensor.</summary>
    public Tensor Fill(double value)
    {
        InPlace(InPlaceOp.Fill, null, value);
        return this;
    }

    /// <summary>
    /// Clamps every element into [0, 6] in place (PyTorch's relu6 with inplace=True). Autograd still works when
    /// the op that produced this tensor does not need its own output for its gradient (a convolution, a
    /// BatchNorm). Returns this tensor.
    /// </summary>
    public Tensor Relu6InPlace()
    {
        InPlace(InPlaceOp.Relu6, null, 0);
        return this;
    }

    /// <summary>Sets every element to zero. Returns this tensor.</summary>
    public Tensor Zero()
    {
        InPlace(InPlaceOp.Zero, null, 0);
        return this;
    }

    /// <summary>Fills with samples of U(low, high), without recording gradients. Returns this tensor.</summary>
    public Tensor UniformInPlace(double low, double high)
    {
        NativeMethods.Check(NativeMethods.wsss_uniform_(Handle, low, high));
        return this;
    }

    /// <summary>Fills with samples of N(mean, std²), without recording gradients. Returns this tensor.</summary>
    public Tensor NormalInPlace(double mean, double std)
    {
        NativeMethods.Check(NativeMethods.wsss_normal_(Handle, mean, std));
        return this;
    }
}
