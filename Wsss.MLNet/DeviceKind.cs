using Microsoft.ML;
using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.MLNet;

/// <summary>Where training and prediction run.</summary>
public enum DeviceKind
{
    /// <summary>A CUDA GPU when libtorch was built with CUDA and one is present, otherwise the CPU.</summary>
    Auto,

    /// <summary>The CPU.</summary>
    Cpu,

    /// <summary>A CUDA GPU; falls back to the CPU only when fallback is allowed (<see cref="MLContext.FallbackToCpu"/>).</summary>
    Cuda,
}

/// <summary>Resolves <see cref="DeviceKind"/> with the ML.NET context's GPU settings.</summary>
internal static class DeviceSelection
{
    /// <summary>
    /// Explicit option values win over the context's <see cref="MLContext.GpuDeviceId"/> and
    /// <see cref="MLContext.FallbackToCpu"/>; with neither, GPU 0 and fallback allowed.
    /// </summary>
    public static Device Resolve(DeviceKind kind, int? gpuDeviceId, bool? fallbackToCpu, MLContext? context, Action<string>? log = null)
    {
        int gpu = gpuDeviceId ?? context?.GpuDeviceId ?? 0;
        bool fallback = fallbackToCpu ?? context?.FallbackToCpu ?? true;
        switch (kind)
        {
            case DeviceKind.Cpu:
                return Devices.Cpu;
            case DeviceKind.Auto:
                return Devices.CudaDeviceCount > gpu ? Devices.Cuda(gpu) : Devices.Cpu;
            case DeviceKind.Cuda:
                int count = Devices.CudaDeviceCount;
                if (count > gpu)
                {
                    return Devices.Cuda(gpu);
                }

                string reason = count == 0
                    ? "libtorch reports no CUDA device (a CPU-only libtorch, or no GPU)"
                    : $"CUDA device {gpu} was requested but only {count} are present";
                if (!fallback)
                {
                    throw new InvalidOperationException($"Device Cuda is not available: {reason}. Set FallbackToCpu to run on the CPU instead.");
                }

                log?.Invoke($"Device Cuda is not available ({reason}); falling back to the CPU.");
                return Devices.Cpu;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown device kind.");
        }
    }
}
