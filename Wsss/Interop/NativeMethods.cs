using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Wsss.Interop;

/// <summary>
/// Every P/Invoke of the project lives in this partial class (one file per native domain:
/// NativeMethods.Tensor.cs, NativeMethods.Seeds.cs ...). Nothing outside
/// Wsss/Interop and the SafeHandle types sees a pointer.
/// </summary>
internal static unsafe partial class NativeMethods
{
    internal const string Library = "wsss_native";

    /// <summary>Must equal WSSS_ABI_VERSION in native/include/wsss_native.h.</summary>
    internal const int AbiVersion = 2;

    static NativeMethods()
    {
        NativeLibraryLoader.EnsureRegistered();
        int native = wsss_abi_version();
        if (native != AbiVersion)
        {
            throw new WsssNativeException(
                $"libwsss_native has ABI version {native} but this Wsss assembly expects {AbiVersion}: " +
                "the native library and the assembly come from different builds; rebuild or reinstall both.");
        }

        // libtorch inside a .NET host starts with one intra-op thread; use every core unless told otherwise.
        Check(wsss_set_num_threads(DefaultThreadCount()));
    }

    /// <summary>Environment variable that sets libtorch's initial thread count.</summary>
    internal const string ThreadsVariable = "WSSS_NUM_THREADS";

    private static int DefaultThreadCount() =>
        int.TryParse(Environment.GetEnvironmentVariable(ThreadsVariable), out int n) && n > 0 ? n : Environment.ProcessorCount;

    [LibraryImport(Library)]
    internal static partial int wsss_abi_version();

    [LibraryImport(Library)]
    internal static partial byte* wsss_last_error();

    /// <summary>Throws the native last error when <paramref name="status"/> is not 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Check(int status)
    {
        if (status != 0)
        {
            ThrowLastError();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowLastError()
    {
        string message = Marshal.PtrToStringUTF8((nint)wsss_last_error()) ?? "unknown native error";
        throw new WsssNativeException(message.Trim());
    }
}
