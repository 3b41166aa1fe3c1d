using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Wsss.Tests.Data;

/// <summary>Dataset-specific shortcuts over <see cref="TestData"/>.</summary>
internal static class SharedDataPaths
{
    /// <summary>The coco128-voc dataset folder, or Inconclusive when it is absent.</summary>
    public static string RequireCoco128Voc()
    {
        string path = Path.Combine(TestData.SharedData, "coco128-voc");
        if (!Directory.Exists(Path.Combine(path, "SegmentationClass")))
        {
            Assert.Inconclusive($"Shared data set not found at {path}; this test needs ../shared/data/coco128-voc.");
        }

        return path;
    }

    /// <summary>A fresh temporary folder; delete it with <see cref="Delete"/>.</summary>
    public static string NewTempFolder() => Wsss.Tests.Model.TestFiles.NewTempDirectory();

    /// <summary>Deletes a temporary folder, ignoring failures.</summary>
    public static void Delete(string path) => Wsss.Tests.Model.TestFiles.DeleteDirectory(path);
}
