using Wsss.Compat;

namespace Wsss.Engine;

/// <summary>
/// The run-time half of the old-libstdc++ step (the build half is the Wsss package's buildTransitive target):
/// before TorchSharp loads, finds the libLibTorchSharp.so this app will load and tells clearly when the
/// system's libstdc++ lacks a version it needs, instead of TorchSharp's long loader trace.
/// </summary>
internal static class LibTorchSharpCheck
{
    /// <summary>Environment variable that turns the check off (any non-empty value).</summary>
    internal const string DisableVariable = "WSSS_SKIP_LIBSTDCXX_CHECK";

    internal static void ThrowIfItCannotLoad()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(DisableVariable)))
        {
            return;
        }

        ThrowIfItCannotLoad(FindLibTorchSharp(), LibStdCxxCompat.FindLoadedLibStdCxx());
    }

    /// <summary>The check for a given library and libstdc++ (null: not found, nothing to check); separate for tests.</summary>
    internal static void ThrowIfItCannotLoad(string? library, string? libstdcxx)
    {
        if (libstdcxx is null || library is null)
        {
            // Nothing to compare: TorchSharp's own loader reports whatever goes wrong.
            return;
        }

        CompatReport report;
        try
        {
            report = LibStdCxxCompat.Analyse(ElfFile.Read(library), ElfFile.Read(libstdcxx).DefinedVersions());
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return;
        }

        switch (report.Verdict)
        {
            case CompatVerdict.Patchable:
                throw new InvalidOperationException(
                    $"{library} needs {report.MissingNames} from libstdc++, which {libstdcxx} (this system's) does not define, so it " +
                    "cannot load. The Wsss package fixes the app's copy when the app is built or published on such a machine; " +
                    "this copy was not fixed (built elsewhere, or with WsssLibTorchSharpCompat=off?). Rebuild or republish the app " +
                    "here, or build it with -p:WsssLibTorchSharpCompat=always, or install a libstdc++ from GCC 13 or later. " +
                    "See the Wsss README, 'Linux with an older libstdc++'.");
            case CompatVerdict.NotPatchable:
                throw new InvalidOperationException(
                    $"{library} needs {report.MissingNames} from libstdc++ for {string.Join(", ", report.BlockingSymbols)}, which " +
                    $"{libstdcxx} (this system's) does not define: install a libstdc++ from GCC 13 or later.");
            default:
                return;
        }
    }

    /// <summary>The libLibTorchSharp.so that the runtime's native search directories hold, first match.</summary>
    internal static string? FindLibTorchSharp()
    {
        var folders = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirectories)
        {
            folders.AddRange(searchDirectories.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        }

        string? torchSharp = Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location);
        if (!string.IsNullOrEmpty(torchSharp))
        {
            folders.Add(torchSharp);
            folders.Add(Path.Combine(torchSharp, "runtimes", "linux-x64", "native"));
            folders.Add(Path.Combine(torchSharp, "runtimes", "linux-arm64", "native"));
        }

        foreach (string folder in folders)
        {
            string candidate = Path.Combine(folder, LibStdCxxCompat.LibTorchSharpFileName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
