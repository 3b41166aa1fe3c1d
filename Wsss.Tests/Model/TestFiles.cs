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

    /// <summary>The shared data folder (see <see cref="TestData.SharedData"/>), or null when absent.</summary>
    public static string? SharedDataDirectory() => Directory.Exists(TestData.SharedData) ? TestData.SharedData : null;
}
