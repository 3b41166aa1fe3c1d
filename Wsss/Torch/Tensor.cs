using System.Runtime.CompilerServices;
using Wsss.Interop;

namespace Wsss.Torch;

/// <summary>
/// A libtorch tensor owned through a SafeHandle. Dispose it (or let a <see cref="DisposeScope"/> do it)
/// to free native memory promptly; the finalizer of the handle is only a safety net. Operations return
/// new tensors; methods ending in <c>InPlace</c> modify this one.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private readonly TensorHandle handle;
    private long[]? shape;
    private int dtype = -1;
    private Device? device;

    internal Tensor(nint native)
    {
        if (native == 0)
        {
            throw new WsssNativeException("the native library returned no tensor");
        }

        handle = new TensorHandle(native);
        DisposeScope.Current?.Register(this);
    }

    internal TensorHandle Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(handle.IsClosed, this);
            return handle;
        }
    }

    internal DisposeScope? Scope { get; set; }

    /// <summary>True once the tensor was disposed.</summary>
    public bool IsDisposed => handle.IsClosed;

    /// <summary>The sizes of the dimensions.</summary>
    public ReadOnlySpan<long> Shape => shape ??= ReadShape();

    /// <summary>Number of dimensions.</summary>
    public int Dimensions => Shape.Length;

    /// <summary>Number of elements.</summary>
    public long NumberOfElements
    {
        get
        {
            long n = 1;
            foreach (long s in Shape)
            {
                n *= s;
            }

            return n;
        }
    }

    /// <summary>Element type.</summary>
    public DType DType
    {
        get
        {
            if (dtype < 0)
            {
                ReadInfo();
            }

            return (DType)dtype;
        }
    }

    /// <summary>The device holding the data.</summary>
    public Device Device
    {
        get
        {
            if (device is null)
            {
                ReadInfo();
            }

            return device!.Value;
        }
    }

    /// <summary>Size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    public long Size(int dim) => Shape[dim < 0 ? dim + Dimensions : dim];

    /// <summary>Frees the native tensor now.</summary>
    public void Dispose() => handle.Dispose();

    /// <summary>
    /// Takes this tensor out of its dispose scope into the enclosing one (or into no scope), so that it
    /// outlives the step that created it. Returns this tensor.
    /// </summary>
    public Tensor MoveToOuterScope()
    {
        DisposeScope? outer = Scope?.Outer;
        Scope = null;
        outer?.Register(this);
        return this;
    }

    /// <summary>Takes this tensor out of every dispose scope: the caller disposes it. Returns this tensor.</summary>
    public Tensor DetachFromDisposeScope()
    {
        Scope = null;
        return this;
    }

    /// <summary>Describes dtype, shape and device.</summary>
    public override string ToString() =>
        IsDisposed ? "Tensor(disposed)" : $"Tensor[{DType}, ({string.Join(", ", Shape.ToArray())}), {Device}]";

    // ---------------------------------------------------------------- data in and out

    /// <summary>Copies the elements (row-major) into a new managed array; <typeparamref name="T"/> must match the dtype.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not <typeparamref name="T"/>.</exception>
    public T[] ToArray<T>()
        where T : unmanaged
    {
        var result = new T[NumberOfElements];
        CopyTo<T>(result);
        return result;
    }

    /// <summary>Copies the elements (row-major) into <paramref name="destination"/>, whose length must equal the element count.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not <typeparamref name="T"/>.</exception>
    /// <exception cref="ArgumentException">The destination length differs from the element count.</exception>
    public unsafe void CopyTo<T>(Span<T> destination)
        where T : unmanaged
    {
        DType expected = DTypeExtensions.Of<T>();
        if (expected != DType)
        {
            throw new InvalidOperationException($"The tensor holds {DType} but {typeof(T).Name} ({expected}) was requested; convert with To(DType.{expected}) first.");
        }

        if (destination.Length != NumberOfElements)
        {
            throw new ArgumentException($"The destination has {destination.Length} elements but the tensor has {NumberOfElements}.", nameof(destination));
        }

        fixed (T* p = destination)
        {
            NativeMethods.Check(NativeMethods.wsss_tensor_copy_to(Handle, p, (long)destination.Length * sizeof(T)));
        }
    }

    /// <summary>The value of a one-element tensor.</summary>
    /// <exception cref="WsssNativeException">The tensor has more than one element.</exception>
    public double Item()
    {
        NativeMethods.Check(NativeMethods.wsss_tensor_item(Handle, out double v));
        return v;
    }

    /// <summary>The value of a one-element tensor as float.</summary>
    public float ItemSingle() => (float)Item();

    /// <summary>Converts to another dtype (same device).</summary>
    public Tensor To(DType type) => To(type, Device);

    /// <summary>Moves to another device (same dtype).</summary>
    public Tensor To(Device target) => To(DType, target);

    /// <summary>Converts dtype and device.</summary>
    /// <exception cref="InvalidOperationException">The device is not available.</exception>
    public Tensor To(DType type, Device target)
    {
        target.EnsureAvailable();
        NativeMethods.Check(NativeMethods.wsss_tensor_to(Handle, (int)type, (int)target.Type, target.Index, out nint r));
        return new Tensor(r);
    }

    /// <summary>A copy with its own storage.</summary>
    public Tensor Clone() => Wrap(NativeMethods.wsss_tensor_clone(Handle, out nint r), r);

    /// <summary>This tensor in contiguous row-major memory (a copy only when needed).</summary>
    public Tensor Contiguous() => Wrap(NativeMethods.wsss_tensor_contiguous(Handle, out nint r), r);

    /// <summary>
    /// The same 4-d tensor stored channels-last (NHWC); shape and indexing are unchanged. oneDNN convolves
    /// such tensors without converting every layer's input and output, and convolution outputs keep the order.
    /// </summary>
    internal Tensor ToChannelsLast() => Wrap(NativeMethods.wsss_tensor_channels_last(Handle, out nint r), r);

    /// <summary>Replaces this tensor's data with <paramref name="source"/>'s (same handle), e.g. to move a parameter.</summary>
    public void SetData(Tensor source)
    {
        NativeMethods.Check(NativeMethods.wsss_tensor_set_data(Handle, source.Handle));
        shape = null;
        dtype = -1;
        device = null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Tensor Wrap(int status, nint result)
    {
        NativeMethods.Check(status);
        return new Tensor(result);
    }

    private unsafe long[] ReadShape()
    {
        int ndim = ReadInfo();
        var s = new long[ndim];
        fixed (long* p = s)
        {
            NativeMethods.Check(NativeMethods.wsss_tensor_shape(Handle, p, ndim));
        }

        return s;
    }

    private int ReadInfo()
    {
        NativeMethods.Check(NativeMethods.wsss_tensor_info(Handle, out int dt, out int ndim, out int devType, out int devIndex, out _));
        dtype = dt;
        device = new Device((DeviceType)devType, devIndex);
        return ndim;
    }

    internal void InvalidateMetadata()
    {
        shape = null;
    }
}
