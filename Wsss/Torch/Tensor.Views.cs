using Wsss.Interop;

namespace Wsss.Torch;

public sealed partial class Tensor
{
    /// <summary>Same data in a new shape (a view when possible); one dimension may be -1.</summary>
    public unsafe Tensor Reshape(params ReadOnlySpan<long> newShape)
    {
        fixed (long* p = newShape)
        {
            return Wrap(NativeMethods.wsss_reshape(Handle, p, newShape.Length, out nint r), r);
        }
    }

    /// <summary>Reorders the dimensions (a view).</summary>
    public unsafe Tensor Permute(params ReadOnlySpan<long> dims)
    {
        fixed (long* p = dims)
        {
            return Wrap(NativeMethods.wsss_permute(Handle, p, dims.Length, out nint r), r);
        }
    }

    /// <summary>Broadcasts size-1 dimensions to <paramref name="newShape"/> (a view; -1 keeps a size).</summary>
    public unsafe Tensor Expand(params ReadOnlySpan<long> newShape)
    {
        fixed (long* p = newShape)
        {
            return Wrap(NativeMethods.wsss_expand(Handle, p, newShape.Length, out nint r), r);
        }
    }

    /// <summary>Elements start..end-1 (step) along <paramref name="dim"/> (a view); bounds are clipped like Python slices.</summary>
    public Tensor Slice(long dim, long start, long end, long step = 1) =>
        Wrap(NativeMethods.wsss_slice(Handle, dim, start, end, step, out nint r), r);

    /// <summary>The sub-tensor at <paramref name="index"/> along <paramref name="dim"/>, which disappears (a view).</summary>
    public Tensor Select(long dim, long index) => Wrap(NativeMethods.wsss_select(Handle, dim, index, out nint r), r);

    /// <summary>Removes every size-1 dimension.</summary>
    public Tensor Squeeze() => Wrap(NativeMethods.wsss_squeeze(Handle, long.MinValue, out nint r), r);

    /// <summary>Removes dimension <paramref name="dim"/> if its size is 1.</summary>
    public Tensor Squeeze(long dim) => Wrap(NativeMethods.wsss_squeeze(Handle, dim, out nint r), r);

    /// <summary>Inserts a size-1 dimension at <paramref name="dim"/>.</summary>
    public Tensor Unsqueeze(long dim) => Wrap(NativeMethods.wsss_unsqueeze(Handle, dim, out nint r), r);

    /// <summary>Reverses the order along the given dimensions.</summary>
    public unsafe Tensor Flip(params ReadOnlySpan<long> dims)
    {
        fixed (long* p = dims)
        {
            return Wrap(NativeMethods.wsss_flip(Handle, p, dims.Length, out nint r), r);
        }
    }

    /// <summary>The entries of <paramref name="index"/> (Int64, 1-d) along <paramref name="dim"/>.</summary>
    public Tensor IndexSelect(long dim, Tensor index) => Wrap(NativeMethods.wsss_index_select(Handle, dim, index.Handle, out nint r), r);

    /// <summary>out[i][j] = this[index[i][j]][j] style gathering along <paramref name="dim"/> (index is Int64).</summary>
    public Tensor Gather(long dim, Tensor index) => Wrap(NativeMethods.wsss_gather(Handle, dim, index.Handle, out nint r), r);
}
