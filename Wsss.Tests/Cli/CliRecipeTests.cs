using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Training;

namespace Wsss.Tests.Cli;

/// <summary>`train --recipe`: the named recipes, and explicit options over the recipe's values.</summary>
[TestClass]
[DoNotParallelize]
public sealed class CliRecipeTests
{
    [TestMethod]
    public void SmallDatasetRecipe_TrainsResNet18FromThePackagedWeights_AndTheModelLoads()
    {
        if (OnnxWeights.FindResNet18() is null)
        {
            Assert.Inconclusive($"ResNet18.onnx not found (NuGet package {OnnxWeights.ResNet18PackageId} is not in the NuGet cache).");
        }

        string root = Path.Combine(Path.GetTempPath(), $"wsss-cli-recipe-{Guid.NewGuid():N}");
        try
        {
            CliHost.WriteSyntheticFolder(root, 4);
            string model = Path.Combine(root, "model.safetensors");
            // Tiny run: the recipe's backbone, weights and seeds settings, with iterations, batch and crop given explicitly.
            var (code, stdout, stderr) = CliHost.Run(
                "train", "--recipe", "small-dataset", "--images", Path.Combine(root, "images"), "--labels", Path.Combine(root, "labels.csv"),
                "--iterations", "2", "--batch", "2", "--crop", "48", "--threads", "2", "--device", "cpu", "--no-progress", "--output", model);
            Assert.AreEqual(0, code, stderr);
            StringAssert.Contains(stdout, "recipe small-dataset, ResNet18 (ML.NET's packaged ImageNet weights), 2 iterations x 2, crop 48");
            using var loaded = SegmentationModel.Load(model);
            Assert.AreEqual(BackboneKind.ResNet18, loaded.Backbone);
            CollectionAssert.AreEqual(ResNet18.MLNetBlocks.ToArray(), ((ResNet)loaded.Network.Backbone).Blocks.ToArray());
            CollectionAssert.AreEqual(OnnxWeights.ResNet18Normalization.Mean.ToArray(), loaded.Metadata.Normalization.Mean.ToArray());
            // The recipe kept the backbone fixed: its weights are still ML.NET's.
            using var imported = OnnxWeights.LoadResNet18();
            var trained = loaded.Network.Backbone.state_dict();
            Assert.IsTrue(imported.state_dict()["layer4.2.conv2.weight"].allclose(trained["layer4.2.conv2.weight"], 0, 0));
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    [TestMethod]
    public void UnknownRecipe_FailsWithTheKnownNames()
    {
        var (code, _, stderr) = CliHost.Run("train", "--recipe", "huge", "--images", "x", "--labels", "y.csv");
        Assert.AreNotEqual(0, code);
        StringAssert.Contains(stderr, "small-dataset");
        var e = Assert.ThrowsExactly<ArgumentException>(() => RrmRecipe.Create("huge"));
        StringAssert.Contains(e.Message, "reference, small-dataset");
    }

    [TestMethod]
    public void Recipes_AreFreshObjects_AndTheReferenceIsTheLibraryDefault()
    {
        var a = RrmRecipe.SmallDataset();
        a.Iterations = 1;
        Assert.AreNotEqual(1, RrmRecipe.SmallDataset().Iterations);
        Assert.AreEqual(new RrmTrainingOptions().ToJson(), RrmRecipe.Reference().ToJson());
        Assert.AreEqual(0, RrmRecipe.SmallDataset().BackboneLearningRateFactor, "the small-dataset recipe keeps the ImageNet backbone fixed");
        RrmRecipe.SmallDataset().Validate();
        var small = RrmRecipe.SmallDataset();
        Assert.IsTrue(small.SeedClassBalance);
        Assert.AreEqual(0.3f, small.Seeds.BackgroundCamThreshold);
        Assert.AreEqual(16f, small.Seeds.HighBackgroundPower);
        Assert.AreEqual(0.8f, small.Seeds.CamPercentile);
        Assert.AreEqual(1000, small.Iterations);
        Assert.AreEqual(0.5, small.ClassificationWarmupFraction);
        Assert.AreEqual(320, small.MaxImageSide, "the scale the coco128-voc figures were measured at");
        Assert.AreEqual(0, RrmRecipe.Reference().MaxImageSide);
        Assert.IsFalse(RrmRecipe.Reference().SeedClassBalance, "the reference pools the foreground pixels");
    }

    [TestMethod]
    public void PseudoMaskOptions_ReferenceIsTheSegmentationBranch_SmallDatasetTheCams()
    {
        var reference = RrmRecipe.PseudoMaskOptions("reference");
        Assert.IsTrue(reference.UseCrf);
        Assert.AreEqual(0, reference.CamWeight, "spec section 8: the segmentation branch's masks");
        var small = RrmRecipe.PseudoMaskOptions("Small-Dataset");
        Assert.AreEqual(1, small.CamWeight);
        Assert.IsTrue(small.UseCrf);
        Assert.AreEqual(RrmRecipe.SmallDatasetPseudoMasks().CamBackgroundThreshold, small.CamBackgroundThreshold);
        Assert.ThrowsExactly<ArgumentException>(() => RrmRecipe.PseudoMaskOptions("huge"));
    }
}
