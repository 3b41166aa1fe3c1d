using System.Runtime.InteropServices;
using TorchSharp;
using Wsss.Compat;

namespace Wsss.Engine;

/// <summary>
/// Process-wide settings of the tensor engine (TorchSharp's libtorch) that Wsss manages for its callers:
/// loading it with the right environment, the intra-op thread count and glibc's allocator. Every Wsss entry
/// point that touches tensors calls <see cref="EnsureLoaded"/>; an application that uses TorchSharp itself
/// before any Wsss call should call it first, because the environment below is read once when libtorch loads.
/// </summary>
public static class TorchEngine
{
    private static readonly Lock Gate = new();
    private static bool loaded;
    private static int allocatorConfigured;

    /// <summary>
    /// Prepares the environment and loads TorchSharp's native backend (idempotent, thread-safe).
    /// </summary>
    /// <remarks>
    /// <para>On Linux, sets <c>OMP_WAIT_POLICY=PASSIVE</c> with libc's setenv unless the variable is already set:
    /// busy-waiting OpenMP workers made 2 threads slower than 1 on a loaded 2-core machine, and .NET's
    /// Environment.SetEnvironmentVariable would not reach libgomp on Unix.</para>
    /// <para>Where the system's libstdc++ is older than TorchSharp's native library needs (Debian 12, Ubuntu
    /// 22.04, RHEL 9) and the app's copy of libLibTorchSharp.so was not patched by the Wsss build step, this
    /// throws an exception that says so and how to fix it, instead of TorchSharp's loader trace.</para>
    /// </remarks>
    /// <exception cref="InvalidOperationException">TorchSharp's native library cannot load here; the message says why.</exception>
    public static void EnsureLoaded()
    {
        if (Volatile.Read(ref loaded))
        {
            return;
        }

        lock (Gate)
        {
            if (loaded)
            {
                return;
            }

            if (OperatingSystem.IsLinux())
            {
                _ = setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
                LibTorchSharpCheck.ThrowIfItCannotLoad();
            }

            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception e) when (e is NotSupportedException or DllNotFoundException or TypeInitializationException)
            {
                throw new InvalidOperationException(
                    "TorchSharp's native libtorch could not be loaded. The application must reference a TorchSharp backend " +
                    "package (TorchSharp-cpu, TorchSharp-cuda-linux or TorchSharp-cuda-windows, version 0.107.0). " + FirstLine(e), e);
            }

            Volatile.Write(ref loaded, true);
        }
    }

    /// <summary>
    /// libtorch's intra-op thread count, process-wide (libtorch starts with one thread inside a .NET host).
    /// The trainers set it from their own options; set it yourself for inference.
    /// </summary>
    public static int Threads
    {
        get
        {
            EnsureLoaded();
            return torch.get_num_threads();
        }

        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            EnsureLoaded();
            if (torch.get_num_threads() != value)
            {
                torch.set_num_threads(value);
            }
        }
    }

    /// <summary>
    /// Tunes glibc's allocator for libtorch's large, short-lived buffers: freed blocks stay in the heap
    /// instead of going back to the kernel, which otherwise costs page faults on every training step (30-40 %
    /// of a step measured here). Values are in bytes; a negative value leaves that setting alone. Linux only
    /// (elsewhere nothing happens); process-wide. The trainers apply the defaults unless the process already
    /// called this method, so a caller's own settings (or an explicit "leave everything alone" with -1, -1, -1) win.
    /// The price is memory: freed buffers stay in the process (MobileNetV1 0.75 at crop 321, batch 4: about 3.7 GB
    /// resident against 1.8 GB with glibc's defaults, measured flat over the run).
    /// </summary>
    /// <param name="mmapThreshold">M_MMAP_THRESHOLD: blocks at least this big are mmap'ed. Default
    /// <see cref="DefaultMmapThreshold"/> (1 GiB): MobileNetV1's activations at RRM's CAM scales reach 40-80 MB, and a
    /// 32 MiB threshold left each of them a fresh mmap whose page faults made a dilated depthwise convolution 3.6x and a
    /// relu 6x slower (measured: 11.9 -> 3.3 ms and 10.0 -> 1.5 ms at 4 x 384 x 81 x 81, 2 threads).</param>
    /// <param name="trimThreshold">M_TRIM_THRESHOLD: free memory at the heap top kept before trimming. Default
    /// <see cref="DefaultTrimThreshold"/> (1 GiB).</param>
    /// <param name="topPad">M_TOP_PAD: extra memory requested with each heap growth. Default <see cref="DefaultTopPad"/> (64 MiB).</param>
    public static void ConfigureAllocator(long mmapThreshold = DefaultMmapThreshold, long trimThreshold = DefaultTrimThreshold, long topPad = DefaultTopPad)
    {
        if (OperatingSystem.IsLinux() && RuntimeInformation.OSArchitecture is Architecture.X64 or Architecture.Arm64)
        {
            // glibc's mallopt parameter numbers (malloc.h).
            const int mTrimThreshold = -1, mTopPad = -2, mMmapThreshold = -3;
            Set(mMmapThreshold, mmapThreshold);
            Set(mTrimThreshold, trimThreshold);
            Set(mTopPad, topPad);
        }

        Volatile.Write(ref allocatorConfigured, 1);

        static void Set(int parameter, long value)
        {
            if (value >= 0 && mallopt(parameter, (int)Math.Min(value, int.MaxValue)) == 0)
            {
                throw new InvalidOperationException($"glibc's mallopt refused parameter {parameter} = {value}.");
            }
        }
    }

    /// <summary>The default M_MMAP_THRESHOLD of <see cref="ConfigureAllocator"/>, bytes (1 GiB).</summary>
    public const long DefaultMmapThreshold = 1L << 30;

    /// <summary>The default M_TRIM_THRESHOLD of <see cref="ConfigureAllocator"/>, bytes (1 GiB).</summary>
    public const long DefaultTrimThreshold = 1L << 30;

    /// <summary>The default M_TOP_PAD of <see cref="ConfigureAllocator"/>, bytes (64 MiB).</summary>
    public const long DefaultTopPad = 64L << 20;

    /// <summary>Applies <see cref="ConfigureAllocator"/>'s defaults unless it was already called in this process.</summary>
    internal static void ConfigureAllocatorUnlessConfigured()
    {
        if (Volatile.Read(ref allocatorConfigured) == 0)
        {
            ConfigureAllocator();
        }
    }

    private static string FirstLine(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is NotSupportedException or DllNotFoundException)
            {
                string message = x.Message;
                int end = message.IndexOf('\n', StringComparison.Ordinal);
                return end > 0 ? message[..end] : message;
            }
        }

        return e.Message;
    }

    [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);

    [DllImport("libc")]
    private static extern int mallopt(int parameter, int value);
}
