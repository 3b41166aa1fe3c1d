using System.Reflection;
using System.Runtime.InteropServices;

namespace Wsss.Interop;

/// <summary>
/// Finds libwsss_native.so next to the assembly (or in runtimes/linux-x64/native of a NuGet layout)
/// so that users never set LD_LIBRARY_PATH, and prepares the process environment that libtorch's
/// OpenMP runtime reads once at load time.
/// </summary>
internal static class NativeLibraryLoader
{
    private const string FileName = "libwsss_native.so";
    private static int registered;

    /// <summary>Environment variable naming an explicit path to libwsss_native.so.</summary>
    internal const string PathVariable = "WSSS_NATIVE_LIBRARY";

    internal static void EnsureRegistered()
    {
        if (Interlocked.Exchange(ref registered, 1) == 0)
        {
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != NativeMethods.Library)
        {
            return 0;
        }

        PrepareEnvironment();
        var tried = new List<string>();
        string? lastError = null;
        foreach (string candidate in Candidates(assembly))
        {
            tried.Add(candidate);
            if (!File.Exists(candidate))
            {
                continue;
            }

            try
            {
                return NativeLibrary.Load(candidate);
            }
            catch (DllNotFoundException e)
            {
                lastError = e.Message;
            }
        }

        if (lastError is not null)
        {
            throw new DllNotFoundException(
                $"{FileName} was found but could not be loaded: {lastError}. Its dependency is libtorch: " +
                "on Debian/Ubuntu install it with 'sudo apt-get install libtorch-dev libopenblas0-pthread' " +
                "(for a CUDA build see the README, section 'CUDA').");
        }

        throw new DllNotFoundException(
            $"{FileName} was not found (looked in: {string.Join(", ", tried)}). Build it with the .NET build of Wsss " +
            $"(it runs CMake on native/) or set {PathVariable} to its path.");
    }

    private static IEnumerable<string> Candidates(Assembly assembly)
    {
        string? explicitPath = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(explicitPath))
        {
            yield return explicitPath;
        }

        var dirs = new List<string> { AppContext.BaseDirectory };
        string? assemblyDir = Path.GetDirectoryName(assembly.Location);
        if (!string.IsNullOrEmpty(assemblyDir))
        {
            dirs.Add(assemblyDir);
        }

        foreach (string dir in dirs.Distinct())
        {
            yield return Path.Combine(dir, FileName);
            yield return Path.Combine(dir, "runtimes", "linux-x64", "native", FileName);
            // NuGet layout seen from lib/net10.0/: ../../runtimes/linux-x64/native/
            yield return Path.GetFullPath(Path.Combine(dir, "..", "..", "runtimes", "linux-x64", "native", FileName));
        }
    }

    /// <summary>
    /// .NET keeps its own copy of the environment on Unix, so Environment.SetEnvironmentVariable would
    /// not reach libgomp: set the variables with libc's setenv before libtorch loads. PASSIVE waiting
    /// keeps idle OpenMP workers from spinning, which on a busy 2-core machine made 2 threads slower
    /// than 1. A value the user already set wins (overwrite = 0).
    /// </summary>
    private static void PrepareEnvironment()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    }

    [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
