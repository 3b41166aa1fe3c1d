using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Data;
using Wsss.Imaging;

namespace Wsss.Tests.Data;

[TestClass]
public sealed class SyntheticDatasetTests
{
    [TestMethod]
    public void SameSeed_GivesIdenticalBytes_InAnyOrder_DifferentSeedDiffers()
    {
        var a = new SyntheticDataset(new SyntheticDatasetOptions { Seed = 7 }, 10);
        var b = new SyntheticDataset(new SyntheticDatasetOptions { Seed = 7 }, 10);
        var c = new SyntheticDataset(new SyntheticDatasetOptions { Seed = 8 }, 10);
        for (int i = 9; i >= 0; i--)
        {
            CollectionAssert.AreEqual(a[i].Image.Pixels, b[i].Image.Pixels);
            CollectionAssert.AreEqual(a[i].Mask.Labels, b[i].Mask.Labels);
            CollectionAssert.AreEqual(a[i].Labels, b[i].Labels);
            CollectionAssert.AreNotEqual(a[i].Image.Pixels, c[i].Image.Pixels);
        }

        CollectionAssert.AreNotEqual(a[0].Image.Pixels, a[1].Image.Pixels);
        var parallel = new byte[10][];
        Parallel.For(0, 10, i => parallel[i] = a[i].Image.Pixels);
        for (int i = 0; i < 10; i++)
        {
            CollectionAssert.AreEqual(b[i].Image.Pixels, parallel[i]);
        }
    }

    [TestMethod]
    public void LabelsMatchMasks_ObjectsInBounds_EveryClassAppears()
    {
        var options = new SyntheticDatasetOptions { ClassCount = 6, Seed = 3 };
        var data = new SyntheticDataset(options, 200);
        var seen = new int[6];
        var objectsPerImage = new int[options.MaxObjects + 1];
        foreach (SyntheticSample sample in data)
        {
            Assert.AreEqual(96, sample.Image.Height);
            Assert.AreEqual(96, sample.Mask.Width);
            Assert.IsTrue(sample.Labels.Length >= 1, $"sample {sample.Index} has no label");
            // Every labelled class is visible enough, and no class is visible without its label.
            CollectionAssert.AreEqual(sample.Mask.ForegroundClasses(options.MinVisiblePixels), sample.Labels, $"sample {sample.Index}");
            CollectionAssert.AreEqual(sample.Mask.ForegroundClasses(1), sample.Labels, $"sample {sample.Index}");
            CollectionAssert.AreEqual(sample.Labels.Select(l => data.ClassNames[l]).ToArray(), sample.LabelNames);
            float[] hot = sample.MultiHot(6);
            Assert.AreEqual(sample.Labels.Length, (int)hot.Sum());
            foreach (SyntheticObject obj in sample.Objects)
            {
                Assert.IsTrue(obj.CenterX - obj.Radius >= 0 && obj.CenterX + obj.Radius <= 95, $"sample {sample.Index} x");
                Assert.IsTrue(obj.CenterY - obj.Radius >= 0 && obj.CenterY + obj.Radius <= 95, $"sample {sample.Index} y");
                Assert.IsTrue(obj.Radius >= (0.25 * 96 / 2) - 1e-9 && obj.Radius <= (0.55 * 96 / 2) + 1e-9);
            }

            objectsPerImage[sample.Objects.Count]++;
            foreach (int l in sample.Labels)
            {
                seen[l]++;
            }
        }

        for (int c = 0; c < 6; c++)
        {
            Assert.IsTrue(seen[c] >= 20, $"class {c} appears in only {seen[c]} of 200 images");
        }

        Assert.IsTrue(objectsPerImage[1] > 0 && objectsPerImage[3] > 0, "object counts should span 1..3");
    }

    [TestMethod]
    public void ObjectsAreSaturated_BackgroundIsNot_AndClassColoursDiffer()
    {
        // Distinguishability by colour: mean chroma (max - min channel) of object pixels well above the
        // background's, and the classes' mean colours far apart.
        var data = new SyntheticDataset(new SyntheticDatasetOptions { ClassCount = 6, Seed = 11 }, 60);
        double bgChroma = 0;
        long bgCount = 0;
        var sums = new double[6, 4];
        foreach (SyntheticSample s in data)
        {
            for (int p = 0; p < s.Mask.Labels.Length; p++)
            {
                int r = s.Image.Pixels[p * 3], g = s.Image.Pixels[(p * 3) + 1], b = s.Image.Pixels[(p * 3) + 2];
                int chroma = Math.Max(r, Math.Max(g, b)) - Math.Min(r, Math.Min(g, b));
                int label = s.Mask.Labels[p];
                if (label == 0)
                {
                    bgChroma += chroma;
                    bgCount++;
                }
                else
                {
                    sums[label - 1, 0] += r;
                    sums[label - 1, 1] += g;
                    sums[label - 1, 2] += b;
                    sums[label - 1, 3]++;
                }
            }
        }

        bgChroma /= bgCount;
        var means = new (double R, double G, double B)[6];
        for (int c = 0; c < 6; c++)
        {
            Assert.IsTrue(sums[c, 3] > 0);
            means[c] = (sums[c, 0] / sums[c, 3], sums[c, 1] / sums[c, 3], sums[c, 2] / sums[c, 3]);
            double chroma = Math.Max(means[c].R, Math.Max(means[c].G, means[c].B)) - Math.Min(means[c].R, Math.Min(means[c].G, means[c].B));
            Assert.IsTrue(chroma > 3 * bgChroma, $"class {c} mean chroma {chroma:F1} vs background {bgChroma:F1}");
        }

        for (int c = 0; c < 6; c++)
        {
            for (int d = c + 1; d < 6; d++)
            {
                double dist = Math.Sqrt(Math.Pow(means[c].R - means[d].R, 2) + Math.Pow(means[c].G - means[d].G, 2) + Math.Pow(means[c].B - means[d].B, 2));
                Assert.IsTrue(dist > 60, $"classes {c} and {d} mean colours only {dist:F1} apart");
            }
        }
    }

    [TestMethod]
    public void Shapes_HaveDistinctSilhouettes()
    {
        // Sample each shape on a grid in its own frame; every pair must differ on a sizeable share of points.
        const int n = 41;
        var grids = new bool[6][];
        for (int c = 0; c < 6; c++)
        {
            grids[c] = new bool[n * n];
            for (int i = 0; i < n * n; i++)
            {
                grids[c][i] = SyntheticDataset.Inside(c, ((i % n) / 20.0) - 1, ((i / n) / 20.0) - 1);
            }
        }

        for (int c = 0; c < 6; c++)
        {
            for (int d = c + 1; d < 6; d++)
            {
                int differ = Enumerable.Range(0, n * n).Count(i => grids[c][i] != grids[d][i]);
                Assert.IsTrue(differ > n * n / 10, $"{SyntheticDataset.AllClassNames[c]} vs {SyntheticDataset.AllClassNames[d]}: {differ} points differ");
            }
        }
    }

    [TestMethod]
    public void InvalidOptions_ThrowNamingTheOption()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new SyntheticDataset(new SyntheticDatasetOptions { ClassCount = 7 }, 1));
        StringAssert.Contains(e.Message, "ClassCount");
        e = Assert.ThrowsExactly<ArgumentException>(() => new SyntheticDataset(new SyntheticDatasetOptions { MinObjects = 3, MaxObjects = 2 }, 1));
        StringAssert.Contains(e.Message, "MaxObjects");
        e = Assert.ThrowsExactly<ArgumentException>(() => new SyntheticDataset(new SyntheticDatasetOptions { MinScale = 0.6, MaxScale = 0.5 }, 1));
        StringAssert.Contains(e.Message, "MinScale");
        e = Assert.ThrowsExactly<ArgumentException>(() => new SyntheticDataset(new SyntheticDatasetOptions { MinVisiblePixels = 100000 }, 1));
        StringAssert.Contains(e.Message, "MinVisiblePixels");
    }

    [TestMethod]
    public void SmallAndLargeSettings_StillProduceLabelledImages()
    {
        var options = new SyntheticDatasetOptions { ImageSize = 32, ClassCount = 1, MinObjects = 1, MaxObjects = 6, MinScale = 0.3, MaxScale = 1.0, MinVisiblePixels = 10 };
        foreach (SyntheticSample s in new SyntheticDataset(options, 40))
        {
            CollectionAssert.AreEqual(new[] { 0 }, s.Labels);
            Assert.IsTrue(s.Mask.Labels.Count(v => v == 1) >= 10);
        }
    }
}
