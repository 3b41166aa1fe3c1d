using Wsss.Interop;

namespace Wsss.Torch;

/// <summary>
/// Tensor creation, runtime settings and scopes: the counterpart of PyTorch's <c>torch</c> module.
/// Operations on networks live in <see cref="Functional"/>.
/// </summary>
public static class Torch
{
    /// <summary>Creates a tensor from managed data (copied), row-major in <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentException">The data length does not match the shape.</exception>
    public static unsafe Tensor FromArray<T>(ReadOnlySpan<T> data, ReadOnlySpan<long> shape, Device? device = null)
        where T : unmanaged
    {
        Device d = device ?? Device.Cpu;
        d.EnsureAvailable();
        long n = 1;
        foreach (long s in shape)
        {
            n *= s;
        }

        if (n != data.Length)
        {
            throw new ArgumentException($"{data.Length} elements do not fill a tensor of shape ({string.Join(", ", shape.ToArray())}), which needs {n}.", nameof(data));
        }

        fixed (T* p = data)
        fixed (long* s = shape)
        {
            return Tensor.Wrap(
                NativeMethods.wsss_tensor_from_data(p, (long)data.Length * sizeof(T), (int)DTypeExtensions.Of<T>(), s, shape.Length, (int)d.Type, d.Index, out nint r),
                r);
        }
    }

    /// <summary>Creates a tensor from a managed array (copied) with the given shape.</summary>
    public static Tensor FromArray<T>(T[] data, params ReadOnlySpan<long> shape)
        where T : unmanaged => FromArray<T>(data.AsSpan(), shape);

    /// <summary>A 0-d tensor holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32, Device? device = null) => Full([], value, dtype, device);

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static unsafe Tensor Full(ReadOnlySpan<long> shape, double value, DType dtype = DType.Float32, Device? device = null)
    {
        Device d = device ?? Device.Cpu;
        d.EnsureAvailable();
        fixed (long* s = shape)
        {
            return Tensor.Wrap(NativeMethods.wsss_tensor_full(s, shape.Length, value, (int)dtype, (int)d.Type, d.Index, out nint r), r);
        }
    }

    /// <summary>An uninitialised-by-contract tensor (zero-filled here; callers overwrite it).</summary>
    public static Tensor Empty(ReadOnlySpan<long> shape, DType dtype = DType.Float32, Device? device = null) => Full(shape, 0, dtype, device);

    /// <summary>Zeros.</summary>
    public static Tensor Zeros(ReadOnlySpan<long> shape, DType dtype = DType.Float32, Device? device = null) => Full(shape, 0, dtype, device);

    /// <summary>Ones.</summary>
    public static Tensor Ones(ReadOnlySpan<long> shape, DType dtype = DType.Float32, Device? device = null) => Full(shape, 1, dtype, device);

    /// <summary>Samples of U(0, 1) from the global generator (see <see cref="ManualSeed"/>).</summary>
    public static unsafe Tensor Rand(ReadOnlySpan<long> shape, DType dtype = DType.Float32, Device? device = null)
    {
        Device d = device ?? Device.Cpu;
        d.EnsureAvailable();
        fixed (long* s = shape)
        {
            return Tensor.Wrap(NativeMethods.wsss_tensor_random(s, shape.Length, 0, (int)dtype, (int)d.Type, d.Index, out nint r), r);
        }
    }

    /// <summary>Samples of N(0, 1) from the global generator.</summary>
    public static unsafe Tensor Randn(ReadOnlySpan<long> shape, DType dtype = DType.Float32, Device? device = null)
    {
        Device d = device ?? Device.Cpu;
        d.EnsureAvailable();
        fixed (long* s = shape)
        {
            return Tensor.Wrap(NativeMethods.wsss_tensor_random(s, shape.Length, 1, (int)dtype, (int)d.Type, d.Index, out nint r), r);
        }
    }

    /// <summary>start, start+step, ... below end.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Int64, Device? device = null)
    {
        Device d = device ?? Device.Cpu;
        d.EnsureAvailable();
        return Tensor.Wrap(NativeMethods.wsss_tensor_arange(start, end, step, (int)dtype, (int)d.Type, d.Index, out nint r), r);
    }

    /// <summary>Concatenates along an existing dimension.</summary>
    public static unsafe Tensor Cat(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        using var handles = new BorrowedHandles(tensors);
        fixed (nint* p = handles.Values)
        {
            return Tensor.Wrap(NativeMethods.wsss_cat(p, tensors.Count, dim, out nint r), r);
        }
    }

    /// <summary>Stacks along a new dimension.</summary>
    public static unsafe Tensor Stack(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        using var handles = new BorrowedHandles(tensors);
        fixed (nint* p = handles.Values)
        {
            return Tensor.Wrap(NativeMethods.wsss_stack(p, tensors.Count, dim, out nint r), r);
        }
    }

    /// <summary>Elementwise choice: <paramref name="a"/> where <paramref name="condition"/> is true, else <paramref name="b"/>.</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b) =>
        Tensor.Wrap(NativeMethods.wsss_where(condition.Handle, a.Handle, b.Handle, out nint r), r);

    /// <summary>Seeds libtorch's global CPU (and CUDA) generators: dropout, Rand, Randn, parameter init.</summary>
    public static void ManualSeed(ulong seed) => NativeMethods.Check(NativeMethods.wsss_manual_seed(seed));

    /// <summary>
    /// libtorch's intra-op thread count (libtorch starts at 1 inside .NET hosts; set it). Process-wide.
    /// </summary>
    public static int Threads
    {
        get
        {
            NativeMethods.Check(NativeMethods.wsss_get_num_threads(out int n));
            return n;
        }

        set => NativeMethods.Check(NativeMethods.wsss_set_num_threads(value));
    }

    /// <summary>The state of the global CPU generator (a UInt8 tensor), for checkpoints.</summary>
    public static Tensor GetRngState() => Tensor.Wrap(NativeMethods.wsss_get_rng_state(out nint r), r);

    /// <summary>Restores a state from <see cref="GetRngState"/>.</summary>
    public static void SetRngState(Tensor state) => NativeMethods.Check(NativeMethods.wsss_set_rng_state(state.Handle));

    /// <summary>Opens a scope that disposes the tensors created on this thread until it is disposed.</summary>
    public static DisposeScope NewDisposeScope() => new();

    /// <summary>Disables gradient recording on this thread until the returned object is disposed.</summary>
    public static GradModeScope NoGrad() => new(false);

    /// <summary>Enables gradient recording on this thread until the returned object is disposed.</summary>
    public static GradModeScope EnableGrad() => new(true);

    /// <summary>Whether autograd records operations on this thread.</summary>
    public static bool IsGradEnabled
    {
        get
        {
            NativeMethods.Check(NativeMethods.wsss_grad_enabled(out int e));
            return e != 0;
        }
    }

    /// <summary>
    /// Tunes glibc's allocator for libtorch's large, short-lived buffers: freed blocks stay in the heap
    /// instead of going back to the kernel, which otherwise costs page faults on every step. Values are in
    /// bytes; a negative value leaves that setting alone. Process-wide. The trainer applies the defaults
    /// unless the process already called this method, so a caller's own settings (or an explicit
    /// "leave everything alone" with -1, -1, -1) win.
    /// </summary>
    public static void ConfigureAllocator(long mmapThreshold = 32L << 20, long trimThreshold = 1L << 30, long topPad = 64L << 20)
    {
        if (OperatingSystem.IsLinux())
        {
            NativeMethods.Check(NativeMethods.wsss_configure_allocator(mmapThreshold, trimThreshold, topPad));
        }

        Volatile.Write(ref allocatorConfigured, 1);
    }

    /// <summary>Applies <see cref="ConfigureAllocator"/>'s defaults unless it was already called in this process.</summary>
    internal static void ConfigureAllocatorUnlessConfigured()
    {
        if (Volatile.Read(ref allocatorConfigured) == 0)
        {
            ConfigureAllocator();
        }
    }

    private static int allocatorConfigured;
}

/// <summary>Restores the previous gradient mode when disposed (per thread).</summary>
public sealed class GradModeScope : IDisposable
{
    private readonly bool previous;
    private bool disposed;

    internal GradModeScope(bool enabled)
    {
        previous = Torch.IsGradEnabled;
        NativeMethods.Check(NativeMethods.wsss_set_grad_enabled(enabled ? 1 : 0));
    }

    /// <summary>Restores the gradient mode that was in force before.</summary>
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            NativeMethods.Check(NativeMethods.wsss_set_grad_enabled(previous ? 1 : 0));
        }
    }
}
