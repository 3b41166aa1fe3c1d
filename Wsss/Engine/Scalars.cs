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
}
