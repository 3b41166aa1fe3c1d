using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Wsss.Engine;

/// <summary>
/// Bulk copies between tensors and managed memory. TorchSharp's <c>data&lt;T&gt;()</c> accessor copies element by
/// element through an index enumerator (41 ms for the 33 MB of a training step's CAMs); these copy the contiguous CPU
/// bytes at memory speed.
/// </summary>
internal static class TensorSpans
{
    /// <summary>The elements of <paramref name="tensor"/> (any device and layout) in row-major order.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not <typeparamref name="T"/>.</exception>
    public static T[] ToArrayFast<T>(this Tensor tensor)
        where T : unmanaged
    {
        var result = new T[tensor.numel()];
        tensor.CopyToSpan<T>(result);
        return result;
    }

    /// <summary>Copies the elements of <paramref name="tensor"/> (any device and layout) into <paramref name="destination"/>.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not <typeparamref name="T"/>.</exception>
    /// <exception cref="ArgumentException">The destination's length is not the element count.</exception>
    public static void CopyToSpan<T>(this Tensor tensor, Span<T> destination)
        where T : unmanaged
    {
        CheckType<T>(tensor);
        if (destination.Length != tensor.numel())
        {
            throw new ArgumentException($"The destination has {destination.Length} elements, the tensor {tensor.numel()}.", nameof(destination));
        }

        bool direct = tensor.device_type == DeviceType.CPU && tensor.is_contiguous();
        Tensor source = direct ? tensor : tensor.cpu().contiguous();
        try
        {
            MemoryMarshal.Cast<byte, T>(source.bytes).CopyTo(destination);
        }
        finally
        {
            if (!direct)
            {
                source.Dispose();
            }
        }
    }

    /// <summary>Copies <paramref name="source"/> into a contiguous CPU tensor of the same element count.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not <typeparamref name="T"/>, or the tensor is not a contiguous CPU tensor.</exception>
    /// <exception cref="ArgumentException">The source's length is not the element count.</exception>
    public static void CopyFromSpan<T>(this Tensor tensor, ReadOnlySpan<T> source)
        where T : unmanaged
    {
        CheckType<T>(tensor);
        if (tensor.device_type != DeviceType.CPU || !tensor.is_contiguous())
        {
            throw new InvalidOperationException("CopyFromSpan needs a contiguous CPU tensor.");
        }

        if (source.Length != tensor.numel())
        {
            throw new ArgumentException($"The source has {source.Length} elements, the tensor {tensor.numel()}.", nameof(source));
        }

        source.CopyTo(MemoryMarshal.Cast<byte, T>(tensor.bytes));
    }

    private static void CheckType<T>(Tensor tensor)
        where T : unmanaged
    {
        ScalarType expected = typeof(T) == typeof(float) ? ScalarType.Float32
            : typeof(T) == typeof(long) ? ScalarType.Int64
            : typeof(T) == typeof(byte) ? ScalarType.Byte
            : typeof(T) == typeof(double) ? ScalarType.Float64
            : typeof(T) == typeof(int) ? ScalarType.Int32
            : throw new NotSupportedException($"{typeof(T).Name} is not a tensor element type here.");
        if (tensor.dtype != expected)
        {
            throw new InvalidOperationException($"The tensor holds {tensor.dtype}, not {expected}.");
        }
    }
}
