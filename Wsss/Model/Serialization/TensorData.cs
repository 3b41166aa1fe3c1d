using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Wsss.Model.Serialization;

/// <summary>
/// One named tensor as stored in a file: element type, shape and the raw little-endian bytes in
/// C (row-major) order. Independent of any tensor library; typed accessors copy into managed arrays.
/// </summary>
public sealed class TensorData
{
    /// <summary>Creates a tensor from raw little-endian bytes.</summary>
    /// <param name="name">Tensor name (non-empty).</param>
    /// <param name="dtype">Element type.</param>
    /// <param name="shape">Dimensions (each &gt;= 0; empty for a scalar).</param>
    /// <param name="data">Exactly product(shape) * element size bytes; kept, not copied.</param>
    /// <exception cref="ArgumentException">The name is empty, a dimension is negative, or the byte count does not match.</exception>
    public TensorData(string name, TensorDType dtype, long[] shape, byte[] data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (!Enum.IsDefined(dtype))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"tensor '{name}': unknown dtype");
        }

        long count = CountElements(shape) ?? throw new ArgumentException(
            $"tensor '{name}': shape [{string.Join(", ", shape)}] has a negative dimension or overflows", nameof(shape));
        long expected = checked(count * dtype.ElementSize());
        if (data.LongLength != expected)
        {
            throw new ArgumentException(
                $"tensor '{name}': {dtype.SafetensorsName()} shape [{string.Join(", ", shape)}] needs {expected} bytes, got {data.LongLength}",
                nameof(data));
        }

        Name = name;
        DType = dtype;
        Shape = (long[])shape.Clone();
        Data = data;
        ElementCount = count;
    }

    /// <summary>Tensor name (for example "conv1/kernel" or "backbone.conv1.weight").</summary>
    public string Name { get; }

    /// <summary>Element type.</summary>
    public TensorDType DType { get; }

    /// <summary>Dimensions, outermost first (a copy owned by this object; do not modify).</summary>
    public long[] Shape { get; }

    /// <summary>Raw little-endian element bytes in C order (shared, not copied).</summary>
    public byte[] Data { get; }

    /// <summary>Number of elements (product of <see cref="Shape"/>; 1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>Creates an F32 tensor (the values are copied).</summary>
    public static TensorData FromFloats(string name, long[] shape, ReadOnlySpan<float> values) =>
        new(name, TensorDType.F32, shape, ToBytes(values));

    /// <summary>Creates an F64 tensor (the values are copied).</summary>
    public static TensorData FromDoubles(string name, long[] shape, ReadOnlySpan<double> values) =>
        new(name, TensorDType.F64, shape, ToBytes(values));

    /// <summary>Creates an I64 tensor (the values are copied).</summary>
    public static TensorData FromInt64s(string name, long[] shape, ReadOnlySpan<long> values) =>
        new(name, TensorDType.I64, shape, ToBytes(values));

    /// <summary>Creates an I32 tensor (the values are copied).</summary>
    public static TensorData FromInt32s(string name, long[] shape, ReadOnlySpan<int> values) =>
        new(name, TensorDType.I32, shape, ToBytes(values));

    /// <summary>Creates a BOOL tensor (one byte per element, 0 or 1).</summary>
    public static TensorData FromBools(string name, long[] shape, ReadOnlySpan<bool> values)
    {
        var bytes = new byte[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            bytes[i] = values[i] ? (byte)1 : (byte)0;
        }

        return new TensorData(name, TensorDType.Bool, shape, bytes);
    }

    /// <summary>
    /// The elements as float32. F32 is copied; F16 and BF16 are widened exactly.
    /// </summary>
    /// <exception cref="InvalidOperationException">The dtype is not F32, F16 or BF16.</exception>
    public float[] AsFloatArray()
    {
        switch (DType)
        {
            case TensorDType.F32:
                return Read<float>();
            case TensorDType.F16:
                {
                    var result = new float[ElementCount];
                    for (long i = 0; i < result.LongLength; i++)
                    {
                        result[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(Data.AsSpan((int)(i * 2), 2)));
                    }

                    return result;
                }

            case TensorDType.BF16:
                {
                    var result = new float[ElementCount];
                    for (long i = 0; i < result.LongLength; i++)
                    {
                        uint bits = (uint)BinaryPrimitives.ReadUInt16LittleEndian(Data.AsSpan((int)(i * 2), 2)) << 16;
                        result[i] = BitConverter.UInt32BitsToSingle(bits);
                    }

                    return result;
                }

            default:
                throw WrongType("float32", "F32, F16 or BF16");
        }
    }

    /// <summary>The elements as float64. F64 is copied; F32, F16 and BF16 are widened exactly.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not a floating-point type.</exception>
    public double[] AsDoubleArray()
    {
        if (DType == TensorDType.F64)
        {
            return Read<double>();
        }

        if (DType is TensorDType.F32 or TensorDType.F16 or TensorDType.BF16)
        {
            return Array.ConvertAll(AsFloatArray(), v => (double)v);
        }

        throw WrongType("float64", "F64, F32, F16 or BF16");
    }

    /// <summary>The elements as int64. I64 is copied; smaller integer types and U32 are widened exactly.</summary>
    /// <exception cref="InvalidOperationException">The dtype is U64, boolean or floating-point.</exception>
    public long[] AsInt64Array()
    {
        switch (DType)
        {
            case TensorDType.I64:
                return Read<long>();
            case TensorDType.U32:
                return Array.ConvertAll(Read<uint>(), v => (long)v);
            default:
                if (IsSmallInteger(DType))
                {
                    return Array.ConvertAll(AsInt32Array(), v => (long)v);
                }

                throw WrongType("int64", "I64, I32, U32, I16, U16, I8 or U8");
        }
    }

    /// <summary>The elements as int32. I32 is copied; I16, U16, I8 and U8 are widened exactly.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not one of those.</exception>
    public int[] AsInt32Array()
    {
        switch (DType)
        {
            case TensorDType.I32:
                return Read<int>();
            case TensorDType.I16:
                return Array.ConvertAll(Read<short>(), v => (int)v);
            case TensorDType.U16:
                return Array.ConvertAll(Read<ushort>(), v => (int)v);
            case TensorDType.I8:
                return Array.ConvertAll(Data, v => (int)(sbyte)v);
            case TensorDType.U8:
                return Array.ConvertAll(Data, v => (int)v);
            default:
                throw WrongType("int32", "I32, I16, U16, I8 or U8");
        }
    }

    /// <summary>The elements of a BOOL tensor (any non-zero byte is true).</summary>
    /// <exception cref="InvalidOperationException">The dtype is not BOOL.</exception>
    public bool[] AsBoolArray()
    {
        if (DType != TensorDType.Bool)
        {
            throw WrongType("bool", "BOOL");
        }

        return Array.ConvertAll(Data, v => v != 0);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {DType.SafetensorsName()}[{string.Join(", ", Shape)}]";

    /// <summary>Product of the dimensions, or null when one is negative or the product overflows.</summary>
    internal static long? CountElements(IReadOnlyList<long> shape)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0)
            {
                return null;
            }

            try
            {
                count = checked(count * d);
            }
            catch (OverflowException)
            {
                return null;
            }
        }

        return count;
    }

    private static bool IsSmallInteger(TensorDType dtype) =>
        dtype is TensorDType.I32 or TensorDType.I16 or TensorDType.U16 or TensorDType.I8 or TensorDType.U8;

    private InvalidOperationException WrongType(string wanted, string accepted) =>
        new($"tensor '{Name}' is {DType.SafetensorsName()}; reading it as {wanted} needs {accepted}");

    private T[] Read<T>()
        where T : unmanaged
    {
        var result = new T[ElementCount];
        Data.AsSpan().CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
        if (!BitConverter.IsLittleEndian)
        {
            SwapInPlace(MemoryMarshal.AsBytes(result.AsSpan()), System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        }

        return result;
    }

    private static byte[] ToBytes<T>(ReadOnlySpan<T> values)
        where T : unmanaged
    {
        byte[] bytes = MemoryMarshal.AsBytes(values).ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            SwapInPlace(bytes, System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        }

        return bytes;
    }

    private static void SwapInPlace(Span<byte> bytes, int size)
    {
        for (int i = 0; i + size <= bytes.Length; i += size)
        {
            bytes.Slice(i, size).Reverse();
        }
    }
}
