using TorchSharp;

namespace Wsss.Engine;

/// <summary>
/// Compute devices as TorchSharp's <see cref="torch.Device"/>, with the checks Wsss makes before using one: a
/// CUDA device asked for where none is usable fails at once with an exception that says why, instead of at the
/// first tensor moved there.
/// </summary>
public static class Devices
{
    /// <summary>The CPU.</summary>
    public static torch.Device Cpu
    {
        get
        {
            TorchEngine.EnsureLoaded();
            return torch.CPU;
        }
    }

    /// <summary>Number of CUDA GPUs TorchSharp can use (0 with the TorchSharp-cpu backend or without a GPU).</summary>
    public static int CudaDeviceCount
    {
        get
        {
            TorchEngine.EnsureLoaded();
            return torch.cuda.is_available() ? torch.cuda.device_count() : 0;
        }
    }

    /// <summary>True when at least one CUDA GPU is usable.</summary>
    public static bool IsCudaAvailable => CudaDeviceCount > 0;

    /// <summary>The first GPU when one is usable, else the CPU.</summary>
    public static torch.Device BestAvailable => IsCudaAvailable ? Cuda() : Cpu;

    /// <summary>CUDA GPU number <paramref name="index"/>, checked to be usable.</summary>
    /// <exception cref="InvalidOperationException">No such CUDA device is usable here (the message says why).</exception>
    public static torch.Device Cuda(int index = 0)
    {
        var device = new torch.Device(DeviceType.CUDA, index);
        EnsureAvailable(device);
        return device;
    }

    /// <summary>Throws a clear exception when <paramref name="device"/> cannot be used in this process.</summary>
    /// <exception cref="InvalidOperationException">A CUDA device without a usable GPU or CUDA backend, an index beyond the count, or a device type Wsss does not run on.</exception>
    public static void EnsureAvailable(torch.Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        switch (device.type)
        {
            case DeviceType.CPU:
                TorchEngine.EnsureLoaded();
                return;
            case DeviceType.CUDA:
                int count = CudaDeviceCount;
                if (count == 0)
                {
                    throw new InvalidOperationException(
                        $"{device} was requested but no CUDA device is usable: either this machine has no NVIDIA GPU and driver, or the " +
                        "application references the CPU-only backend TorchSharp-cpu. A GPU application references TorchSharp-cuda-windows " +
                        "or TorchSharp-cuda-linux (0.107.0) instead. Use Devices.Cpu or Devices.BestAvailable to run without one.");
                }

                if (device.index < 0 || device.index >= count)
                {
                    throw new InvalidOperationException($"{device} was requested but only {count} CUDA device(s) exist (cuda:0..cuda:{count - 1}).");
                }

                return;
            default:
                throw new InvalidOperationException($"Wsss runs on the CPU or CUDA devices, not on {device}.");
        }
    }

    /// <summary>Parses "cpu", "cuda", "gpu" or "cuda:N" (not checked: see <see cref="EnsureAvailable"/>).</summary>
    /// <exception cref="FormatException">The text names no device.</exception>
    public static torch.Device Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToLowerInvariant();
        if (t == "cpu")
        {
            return Cpu;
        }

        if (t is "cuda" or "gpu")
        {
            return new torch.Device(DeviceType.CUDA, 0);
        }

        if (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t.AsSpan(5), out int i) && i >= 0)
        {
            return new torch.Device(DeviceType.CUDA, i);
        }

        throw new FormatException($"'{text}' is not a device: use cpu, cuda or cuda:N.");
    }
}
