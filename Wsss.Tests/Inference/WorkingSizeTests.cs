using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Training;

namespace Wsss.Tests.Inference;

/// <summary>
/// RrmTrainingOptions.MaxImageSide: training images are scaled down to it, the model file keeps it, and predictions,
/// pseudo masks and seeds work at that size by default and come back at the image's size.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class WorkingSizeTests
{
    private static readonly SyntheticDataset Data = new(new SyntheticDatasetOptions { ClassCount = 2, ImageSize = 64, MinVisiblePixels = 20, Seed = 9 }, 12);

    [TestMethod]
    public void Downscaled_FitsTheLongerSide_KeepsLabels_AndScalesTheMaskNearest()
    {
        var mask = new SegmentationMask(40, 100);
        for (int x = 50; x < 100; x++)
        {
            for (int y = 0; y < 40; y++)
            {
                mask[y, x] = 2;
            }
        }

        var item = new LabelledImage("wide", new RgbImage(40, 100), [1], ["a", "b"], mask);
        var small = item.Downscaled(50);
        Assert.AreEqual((20, 50), (small.Image.Height, small.Image.Width));
        Assert.AreEqual((20, 50), (small.Mask!.Height, small.Mask.Width));
        Assert.AreEqual((byte)0, small.Mask[10, 24]);
        Assert.AreEqual((byte)2, small.Mask[10, 25]);
        CollectionAssert.AreEqual(item.Labels, small.Labels);
        Assert.AreEqual("wide", small.Id);
        Assert.AreSame(item, item.Downscaled(100), "an image that fits is returned as it is");
        Assert.AreSame(item, item.Downscaled(0), "0 keeps the size");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => item.Downscaled(-1));
        Assert.AreEqual((1, 300), ImageResize.FitWithin(1, 600, 300), "a side never rounds to 0");
    }

    [TestMethod]
    public void TheModelKeepsItsTrainingSize_AndSegmentsAtItUnlessTold()
    {
        using var dir = TestData.NewTempDirectory();
        var options = new RrmTrainingOptions
        {
            Backbone = BackboneKind.SmallCnn,
            Iterations = 30,
            BatchSize = 4,
            CropSize = 32,
            MaxImageSide = 32,
            BaseLearningRate = 0.01,
            Momentum = 0.9,
            ClassificationWarmupFraction = 0.5,
            Threads = 2,
            Seed = 4,
        };
        string path = dir.File("m.safetensors");
        using (var trained = new RrmTrainer(options).Train(WeakDataset.From(Data)))
        {
            Assert.AreEqual(32, trained.TrainingMaxImageSide);
            trained.Save(path);
        }

        using var model = SegmentationModel.Load(path);
        Assert.AreEqual(32, model.TrainingMaxImageSide, "the model file keeps the training size");
        var image = Data[0].Image;
        var small = image.Resize(32, 32, ResizeMode.Area);

        var byDefault = model.Predict(image, new PredictionOptions { IncludeProbabilities = true });
        var atSmall = model.Predict(small, new PredictionOptions { IncludeProbabilities = true, MaxImageSide = 0 });
        Assert.AreEqual((64, 64), (byDefault.Height, byDefault.Width), "the mask comes back at the image's size");
        for (int y = 0; y < 64; y++)
        {
            for (int x = 0; x < 64; x++)
            {
                Assert.AreEqual(atSmall.Mask[y / 2, x / 2], byDefault.Mask[y, x], $"pixel ({y}, {x}) is its 2x2 block's prediction at 32 px");
            }
        }

        Assert.AreEqual(3 * 64 * 64, byDefault.Probabilities!.Length);
        Assert.AreEqual(atSmall.Probabilities![(2 * 32 * 32) + (5 * 32) + 7], byDefault.Probabilities[(2 * 64 * 64) + (10 * 64) + 14]);

        var ownSize = model.Predict(image, new PredictionOptions { MaxImageSide = 0 });
        Assert.AreEqual((64, 64), (ownSize.Height, ownSize.Width));
        CollectionAssert.AreEqual(ownSize.Mask.Labels, model.Predict(image, new PredictionOptions { MaxImageSide = 64 }).Mask.Labels, "a size the image fits is its own");

        var pseudo = model.PseudoMask(image, Data[0].Labels, new PredictionOptions { UseCrf = true });
        var pseudoSmall = model.PseudoMask(small, Data[0].Labels, new PredictionOptions { UseCrf = true, MaxImageSide = 0 });
        Assert.AreEqual(pseudoSmall.Mask[7, 9], pseudo.Mask[15, 19]);
        var seeds = model.ReliableSeeds(image, Data[0].Labels, threads: 2);
        var seedsSmall = model.ReliableSeeds(small, Data[0].Labels, threads: 2, maxImageSide: 0);
        Assert.AreEqual((64, 64), (seeds.Height, seeds.Width));
        Assert.AreEqual(seedsSmall[3, 30], seeds[7, 61]);
        Assert.ThrowsExactly<ArgumentException>(() => model.Predict(image, new PredictionOptions { MaxImageSide = -1 }));

        options.MaxImageSide = 8;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(options.Validate).Message, "MaxImageSide");
    }
}
