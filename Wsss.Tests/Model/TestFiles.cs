namespace Wsss.Tests.Model;

/// <summary>Per-test temporary directories and the location of the shared data.</summary>
internal static class TestFiles
{
    public static string NewTempDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), "wsss-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void DeleteDirectory(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// ../shared/data next to the repository root (the folder holding Wsss.MLNet.sln), or null.
    /// WSSS_SHARED_DATA overrides it (for checkouts that do not sit beside shared/).
    /// </summary>
    public static string? SharedDataDirectory()
    {
        string? overridden = Environment.GetEnvironmentVariable("WSSS_SHARED_DATA");
        if (!string.IsNullOrEmpty(overridden))
        {
            return Directory.Exists(overridden) ? overridden : null;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Wsss.MLNet.sln")))
            {
                string data = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
                return Directory.Exists(data) ? data : null;
            }
        }

        return null;
    }
}
