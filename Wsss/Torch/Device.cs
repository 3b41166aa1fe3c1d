using Wsss.Interop;

namespace Wsss.Torch;

/// <summary>Kind of compute device.</summary>
public enum DeviceType
{
    /// <summary>The CPU (libtorch with OpenMP/oneDNN).</summary>
    Cpu = 0,

    /// <summary>An NVIDIA GPU through a CUDA build of libtorch.</summary>
    Cuda = 1,
}

/// <summary>A compute device: the CPU, or one CUDA GPU by index.</summary>
/// <param name="Type">CPU or CUDA.</param>
/// <param name="Index">GPU ordinal for CUDA; 0 for the CPU.</param>
public readonly record struct Device(DeviceType Type, int Index = 0)
{
    private static int cudaCount = -1;

    /// <summary>The CPU.</summary>
    public static Device Cpu => new(DeviceType.Cpu);

    /// <summary>The first CUDA GPU.</summary>
    public static Device Cuda => new(DeviceType.Cuda);

    /// <summary>Number of CUDA GPUs libtorch can use (0 with a CPU-only libtorch or without a GPU).</summary>
    public static int CudaDeviceCount
    {
        get
        {
            if (cudaCount < 0)
            {
                NativeMethods.Check(NativeMethods.wsss_cuda_device_count(out int n));
                cudaCount = n;
            }

            return cudaCount;
        }
    }

    /// <summary>True when at least one CUDA GPU is usable.</summary>
    public static bool IsCudaAvailable => CudaDeviceCount > 0;

    /// <summary>CUDA GPU number <paramref name="index"/>.</summary>
    public static Device CudaAt(int index) => new(DeviceType.Cuda, index);

    /// <summary>The first GPU when one is usable, else the CPU.</summary>
    public static Device BestAvailable => IsCudaAvailable ? Cuda : Cpu;

    /// <summary>
    /// Throws a clear exception when this device cannot be used here (CUDA asked for without a GPU or
    /// with a CPU-only libtorch, or a GPU index beyond the count).
    /// </summary>
    /// <exception cref="InvalidOperationException">The device is not available.</exception>
    public void EnsureAvailable()
    {
        if (Type == DeviceType.Cpu)
        {
            return;
        }

        int count = CudaDeviceCount;
        if (count == 0)
        {
            throw new InvalidOperationException(
                "CUDA was requested but no CUDA device is available: either this machine has no NVIDIA GPU/driver, or " +
                "libwsss_native was built against a CPU-only libtorch (Debian's libtorch-dev is CPU-only; see the README, " +
                "section 'CUDA'). Use Device.Cpu or Device.BestAvailable.");
        }

        if (Index < 0 || Index >= count)
        {
            throw new InvalidOperationException($"CUDA device {Index} was requested but only {count} CUDA device(s) exist.");
        }
    }

    /// <summary>Parses "cpu", "cuda" or "cuda:N".</summary>
    /// <exception cref="FormatException">The text names no device.</exception>
    public static Device Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToLowerInvariant();
        if (t == "cpu") return Cpu;
        if (t == "cuda" || t == "gpu") return Cuda;
        if (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t.AsSpan(5), out int i) && i >= 0) return CudaAt(i);
        throw new FormatException($"'{text}' is not a device: use cpu, cuda or cuda:N.");
    }

    /// <inheritdoc/>
    public override string ToString() => Type == DeviceType.Cpu ? "cpu" : $"cuda:{Index}";
}
