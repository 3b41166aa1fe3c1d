using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Wsss.Tests.Data;

/// <summary>Locates the project's shared test data (../shared/data relative to the repository root).</summary>
internal static class SharedDataPaths
{
    /// <summary>The repository root: the first folder above the test binaries that holds Wsss.MLNet.sln.</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Wsss.MLNet.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Wsss.MLNet.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>
    /// The shared data folder (may not exist on a user's machine): WSSS_SHARED_DATA when set, else
    /// ../shared/data next to the repository root, else the first shared/data further up (a git worktree
    /// checked out one level deeper than the main repository still finds it).
    /// </summary>
    public static string SharedData
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("WSSS_SHARED_DATA");
            if (!string.IsNullOrEmpty(env))
            {
                return Path.GetFullPath(env);
            }

            string first = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));
            for (var dir = new DirectoryInfo(RepoRoot).Parent; dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "data");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }

            return first;
        }
    }

    /// <summary>The coco128-voc dataset folder, or Inconclusive when it is absent.</summary>
    public static string RequireCoco128Voc()
    {
        string path = Path.Combine(SharedData, "coco128-voc");
        if (!Directory.Exists(Path.Combine(path, "SegmentationClass")))
        {
            Assert.Inconclusive($"Shared data set not found at {path}; this test needs ../shared/data/coco128-voc.");
        }

        return path;
    }

    /// <summary>A fresh temporary folder; delete it with <see cref="Delete"/>.</summary>
    public static string NewTempFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "wsss-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Deletes a temporary folder, ignoring failures.</summary>
    public static void Delete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
