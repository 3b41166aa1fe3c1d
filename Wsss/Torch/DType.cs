namespace Wsss.Torch;

/// <summary>Element type of a tensor. The values are libtorch's ScalarType codes.</summary>
public enum DType
{
    /// <summary>8-bit unsigned integer (images, label maps).</summary>
    UInt8 = 0,

    /// <summary>8-bit signed integer.</summary>
    Int8 = 1,

    /// <summary>32-bit signed integer.</summary>
    Int32 = 3,

    /// <summary>64-bit signed integer (indices, class targets).</summary>
    Int64 = 4,

    /// <summary>32-bit float, the default for networks.</summary>
    Float32 = 6,

    /// <summary>64-bit float (gradient checks).</summary>
    Float64 = 7,

    /// <summary>Boolean (masks, comparison results).</summary>
    Bool = 11,
}

/// <summary>Element sizes and managed-type mapping of <see cref="DType"/>.</summary>
public static class DTypeExtensions
{
    /// <summary>Size of one element in bytes.</summary>
    public static int ElementSize(this DType dtype) => dtype switch
    {
        DType.UInt8 or DType.Int8 or DType.Bool => 1,
        DType.Int32 or DType.Float32 => 4,
        DType.Int64 or DType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>True for Float32 and Float64.</summary>
    public static bool IsFloatingPoint(this DType dtype) => dtype is DType.Float32 or DType.Float64;

    internal static DType Of<T>()
        where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(double)) return DType.Float64;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(int)) return DType.Int32;
        if (typeof(T) == typeof(byte)) return DType.UInt8;
        if (typeof(T) == typeof(sbyte)) return DType.Int8;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new NotSupportedException($"{typeof(T).Name} has no tensor dtype; use float, double, long, int, byte, sbyte or bool.");
    }
}
