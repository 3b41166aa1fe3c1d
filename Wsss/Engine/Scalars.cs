using TorchSharp;

namespace Wsss.Engine;

/// <summary>
/// TorchSharp scalars that outlive the native calls using them. TorchSharp 0.107 reads a <see cref="Scalar"/>'s native
/// handle and then lets the object go while libtorch still uses the value: an implicit conversion (<c>t + 1e-5</c>,
/// <c>clamp_(0, 6)</c>, and the alpha of 1 that <c>add(Scalar)</c> creates) makes a temporary that a garbage collection
/// during the call may finalize, freeing the value under libtorch ("Expected false to be true ... toDouble", seen in
/// <c>bench inference</c> in MobileNetV1's BatchNorm fold). Scalars held here, or by a local that is disposed after
/// the call, stay alive. libtorch only reads them, so threads may share them.
/// </summary>
internal static class Scalars
{
    public static Scalar Zero { get; } = 0.0.ToScalar();

    public static Scalar One { get; } = 1.0.ToScalar();

    public static Scalar Six { get; } = 6.0.ToScalar();

    /// <summary>An integer 1, for integer tensors (a counter), whose type a floating 1 would change.</summary>
    public static Scalar OneInt64 { get; } = 1L.ToScalar();
}

/// <summary>
/// Tensor arithmetic with .NET numbers whose <see cref="Scalar"/>s stay alive until the native call has returned (see
/// <see cref="Scalars"/>): the TorchSharp operators and overloads these replace (<c>a + b</c>, <c>t * 0.5</c>,
/// <c>clamp_min(0)</c>, <c>masked_fill(m, 1.0)</c>, <c>eq(255)</c>) make temporaries a collection may free mid-call.
/// <c>Wsss.Tests</c>' NativeLifetimeTests fail the build's tests when library code calls one of those again.
/// </summary>
internal static class ScalarMath
{
    /// <summary><c>a + b</c> with a held alpha of 1 (TorchSharp's <c>add(Tensor)</c> makes its alpha implicitly).</summary>
    public static torch.Tensor Plus(this torch.Tensor a, torch.Tensor b) => a.add(b, Scalars.One);

    /// <summary><c>a + value</c>.</summary>
    public static torch.Tensor Plus(this torch.Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.add(s, Scalars.One);
    }

    /// <summary><c>a * value</c>.</summary>
    public static torch.Tensor Times(this torch.Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.mul(s);
    }

    /// <summary><c>a / value</c>.</summary>
    public static torch.Tensor DividedBy(this torch.Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.div(s);
    }

    /// <summary><c>a.clamp_min(minimum)</c>.</summary>
    public static torch.Tensor AtLeast(this torch.Tensor a, double minimum)
    {
        using var s = minimum.ToScalar();
        return a.clamp_min(s);
    }

    /// <summary><c>a.masked_fill(mask, value)</c>.</summary>
    public static torch.Tensor FilledWhere(this torch.Tensor a, torch.Tensor mask, double value)
    {
        using var s = value.ToScalar();
        return a.masked_fill(mask, s);
    }

    /// <summary><c>a.masked_fill(mask, value)</c> for integer tensors (an Int64 Scalar).</summary>
    public static torch.Tensor FilledWhere(this torch.Tensor a, torch.Tensor mask, long value)
    {
        using var s = value.ToScalar();
        return a.masked_fill(mask, s);
    }

    /// <summary><c>a.eq(value)</c>.</summary>
    public static torch.Tensor EqualTo(this torch.Tensor a, long value)
    {
        using var s = value.ToScalar();
        return a.eq(s);
    }

    /// <summary><c>a.ne(value)</c>.</summary>
    public static torch.Tensor NotEqualTo(this torch.Tensor a, long value)
    {
        using var s = value.ToScalar();
        return a.ne(s);
    }
}
