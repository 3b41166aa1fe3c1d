using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Wsss.Tests;

/// <summary>Locates the repository and the shared data beside it (../shared/data), which is never committed.</summary>
internal static class TestData
{
    private static readonly Lazy<string> RepoRootLazy = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Wsss.MLNet.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Wsss.MLNet.sln not found above the test binaries.");
    });

    public static string RepoRoot => RepoRootLazy.Value;

    /// <summary>../shared/data beside the repository; WSSS_SHARED_DATA overrides it (checkouts elsewhere, e.g. worktrees).</summary>
    public static string SharedData =>
        Environment.GetEnvironmentVariable("WSSS_SHARED_DATA") is { Length: > 0 } overridden
            ? overridden
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));

    /// <summary>The path of a shared-data item, or marks the test skipped (inconclusive) with the reason.</summary>
    public static string RequireShared(params string[] parts)
    {
        string path = Path.Combine([SharedData, .. parts]);
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            Assert.Inconclusive($"Shared test data not available: {path} (it lives in ../shared/data beside the repository).");
        }

        return path;
    }

    /// <summary>A fresh temporary directory deleted when disposed.</summary>
    public static TempDirectory NewTempDirectory() => new();
}

internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wsss-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
