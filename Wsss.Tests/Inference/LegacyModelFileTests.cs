using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;
using Wsss.Inference;

namespace Wsss.Tests.Inference;

/// <summary>A model file written by Wsss 0.1 (before the TorchSharp engine) still loads and predicts what it predicted then.</summary>
[TestClass]
public sealed class LegacyModelFileTests
{
    private static string Fixture(string name) => Path.Combine(TestData.RepoRoot, "Wsss.Tests", "Fixtures", "model-v0.1-smallcnn", name);

    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    public void ModelFileOfVersion01_PredictsTheSameMasksAndProbabilities(int image)
    {
        using var model = SegmentationModel.Load(Fixture("smallcnn.safetensors"));
        CollectionAssert.AreEqual(new[] { "disc", "square", "triangle" }, model.ClassNames.ToArray());

        SegmentationResult result = model.Predict(Fixture($"image{image}.png"), new PredictionOptions { IncludeProbabilities = true });

        SegmentationMask expected = PalettePng.ReadMask(Fixture($"image{image}.mask.png"));
        Assert.AreEqual(expected.Height, result.Height);
        Assert.AreEqual(expected.Width, result.Width);
        int differing = 0;
        for (int i = 0; i < expected.Labels.Length; i++)
        {
            differing += expected.Labels[i] != result.Mask.Labels[i] ? 1 : 0;
        }

        Assert.AreEqual(0, differing, $"{differing} of {expected.Labels.Length} pixels differ from the mask predicted by version 0.1");
        Assert.IsTrue(expected.Labels.Distinct().Count() >= 3, "the fixture is meant to hold background and at least two classes");

        byte[] raw = File.ReadAllBytes(Fixture($"image{image}.probabilities.f32"));
        var expectedProbabilities = new float[raw.Length / 4];
        Buffer.BlockCopy(raw, 0, expectedProbabilities, 0, raw.Length);
        float[] actual = result.Probabilities!;
        Assert.AreEqual(expectedProbabilities.Length, actual.Length);
        double maxDiff = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expectedProbabilities[i]));
        }

        Assert.IsTrue(maxDiff < 1e-4, $"probabilities differ from version 0.1's by up to {maxDiff:G3}");
    }
}
