using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.MLNet;
using Wsss.Model;

[assembly: Parallelize(Workers = 1, Scope = ExecutionScope.ClassLevel)]

namespace Wsss.MLNet.Tests;

public sealed class InputRow
{
    public string ImagePath { get; set; } = "";

    public string Labels { get; set; } = "";
}

public sealed class MaskRow
{
    public string ImagePath { get; set; } = "";

    public uint[] PredictedMask { get; set; } = [];

    public int MaskHeight { get; set; }

    public int MaskWidth { get; set; }
}

/// <summary>
/// The adapter end to end on tiny synthetic images (SmallCnn, a few iterations): one model is trained
/// once for the class and shared by the tests.
/// </summary>
[TestClass]
public sealed class MLNetAdapterTests
{
    private const int Size = 64;
    private static string folder = "";
    private static List<InputRow> rows = [];
    private static MLContext ml = null!;
    private static WeaklySupervisedSegmentationTransformer model = null!;
    private static int progressReports;

    [ClassInitialize]
    public static void Setup(TestContext context)
    {
        _ = context;
        folder = Path.Combine(Path.GetTempPath(), "wsss-mlnet-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var synthetic = new SyntheticDataset(new SyntheticDatasetOptions { ImageSize = Size, ClassCount = 2, Seed = 5, MinVisiblePixels = 10 }, 6);
        foreach (var sample in synthetic)
        {
            string path = Path.Combine(folder, $"img{sample.Index}.png");
            ImageCodec.SavePng(sample.Image, path);
            rows.Add(new InputRow { ImagePath = path, Labels = string.Join(";", sample.LabelNames) });
        }

        ml = new MLContext(seed: 1);
        model = ml.Transforms.WeaklySupervisedSegment(Options()).Fit(ml.Data.LoadFromEnumerable(rows));
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        model?.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    private static WeaklySupervisedSegmentationOptions Options() => new()
    {
        Backbone = BackboneKind.SmallCnn, Iterations = 3, BatchSize = 2, CropSize = Size, Threads = 1, Seed = 1,
        Device = DeviceKind.Cpu, Progress = new Counter(),
    };

    [TestMethod]
    public void Pipeline_FitTransformEnumerate_GivesOneMaskPerRowMatchingTheCoreModel()
    {
        Assert.IsGreaterThan(0, progressReports, "training reported no progress");
        string[] labels = rows.SelectMany(r => r.Labels.Split(';')).Distinct().Order(StringComparer.Ordinal).ToArray();
        CollectionAssert.AreEqual(labels, model.ClassNames.ToArray(), "class names: the training labels, sorted");
        var output = ml.Data.CreateEnumerable<MaskRow>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();

        Assert.HasCount(rows.Count, output);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.AreEqual(rows[i].ImagePath, output[i].ImagePath);
            Assert.AreEqual(Size, output[i].MaskHeight);
            Assert.AreEqual(Size, output[i].MaskWidth);
            Assert.HasCount(Size * Size, output[i].PredictedMask);
            byte[] expected = model.Model.Predict(ImageCodec.Decode(rows[i].ImagePath)).Mask.Labels;
            CollectionAssert.AreEqual(expected.Select(b => (uint)b).ToArray(), output[i].PredictedMask);
        }
    }

    [TestMethod]
    public void PredictionEngine_GivesTheSameMaskAsTransform()
    {
        // The engine would dispose the transformer (ML.NET's default), which the other tests share.
        using var engine = ml.Model.CreatePredictionEngine<InputRow, MaskRow>(model, new PredictionEngineOptions { OwnsTransformer = false });
        var viaTransform = ml.Data.CreateEnumerable<MaskRow>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            MaskRow predicted = engine.Predict(rows[i]);
            CollectionAssert.AreEqual(viaTransform[i].PredictedMask, predicted.PredictedMask, $"row {i}");
        }
    }

    [TestMethod]
    public void EightPredictionEngines_OnePerThread_GiveTheSequentialResults()
    {
        // A PredictionEngine is not thread-safe, but engines over one transformer (one shared SegmentationModel) must
        // be. Probabilities too: a barely trained model may label every pixel background, its probabilities still vary.
        var options = Options();
        options.OutputClassProbabilities = true;
        using var transformer = ml.Transforms.WeaklySupervisedSegment(options).Fit(ml.Data.LoadFromEnumerable(rows));
        var engineOptions = new PredictionEngineOptions { OwnsTransformer = false };
        List<ProbabilityRow> sequential;
        using (var engine = ml.Model.CreatePredictionEngine<InputRow, ProbabilityRow>(transformer, engineOptions))
        {
            sequential = rows.Select(r => engine.Predict(r)).ToList();
        }

        Assert.IsGreaterThan(1, sequential.Select(m => string.Join(",", m.ClassProbabilities)).Distinct().Count(), "the results should depend on the image");
        const int Threads = 8, Rounds = 3;
        var mismatches = new System.Collections.Concurrent.ConcurrentBag<string>();
        int predictions = 0;
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            using var engine = ml.Model.CreatePredictionEngine<InputRow, ProbabilityRow>(transformer, engineOptions);
            start.SignalAndWait();
            for (int round = 0; round < Rounds; round++)
            {
                for (int k = 0; k < rows.Count; k++)
                {
                    // Each thread walks the rows from another starting point, so different images overlap in time.
                    int i = (k + t) % rows.Count;
                    ProbabilityRow r = engine.Predict(rows[i]);
                    Interlocked.Increment(ref predictions);
                    if (!r.PredictedMask.SequenceEqual(sequential[i].PredictedMask) || !r.ClassProbabilities.SequenceEqual(sequential[i].ClassProbabilities))
                    {
                        mismatches.Add($"thread {t}, round {round}, row {i}");
                    }
                }
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.AreEqual(Threads * Rounds * rows.Count, predictions);
        Assert.IsEmpty(mismatches, $"{mismatches.Count} results differ from the sequential ones: {string.Join("; ", mismatches.Take(5))}");
    }

    [TestMethod]
    public void SchemaErrors_NameTheColumnAndTheExpectedType()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var missing = new WeaklySupervisedSegmentationOptions { ImagePathColumnName = "Photo" };
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.WeaklySupervisedSegment(missing).GetOutputSchema(SchemaShapeOf(data)));
        StringAssert.Contains(e1.Message, "'Photo'");
        StringAssert.Contains(e1.Message, "Text");

        var wrongType = new WeaklySupervisedSegmentationOptions { ImagePathColumnName = "Labels", LabelsColumnName = "Length" };
        var withNumber = ml.Transforms.Conversion.ConvertType("Length", "Labels", DataKind.Single);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => withNumber.Append(ml.Transforms.WeaklySupervisedSegment(wrongType)).GetOutputSchema(SchemaShapeOf(data)));
        StringAssert.Contains(e2.Message, "'Length'");

        // A number where the image should be: the message names the column and every accepted image type.
        var numberImage = new WeaklySupervisedSegmentationOptions { ImagePathColumnName = "Size" };
        var e4 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.ConvertType("Size", "Labels", DataKind.Single)
            .Append(ml.Transforms.WeaklySupervisedSegment(numberImage)).GetOutputSchema(SchemaShapeOf(data)));
        foreach (string part in new[] { "'Size'", "Single", "Text (a file path)", "Image (an MLImage", "vector of Byte" })
        {
            StringAssert.Contains(e4.Message, part);
        }

        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() => model.GetOutputSchema(ml.Data.LoadFromEnumerable(new[] { new { Other = 1f } }).Schema));
        StringAssert.Contains(e3.Message, "'ImagePath'");
    }

    [TestMethod]
    public void MLImageInput_LoadImagesThenSegment_TrainsAndPredictsTheMasksOfThePathInput()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var viaPaths = ml.Data.CreateEnumerable<MaskRow>(model.Transform(data), reuseRowObject: false).ToList();

        // Training from an MLImage column with the path-trained model's settings gives the same network (training is
        // a function of the pixels, the seed and the options at one thread), so the same masks.
        var options = Options();
        options.ImagePathColumnName = "Photo";
        options.OutputClassProbabilities = true;
        var pipeline = ml.Transforms.LoadImages("Photo", imageFolder: null, inputColumnName: "ImagePath")
            .Append(ml.Transforms.WeaklySupervisedSegment(options));
        Assert.IsTrue(pipeline.GetOutputSchema(SchemaShapeOf(data)).Any(c => c.Name == "PredictedMask"));
        var fitted = pipeline.Fit(data);
        using var segmenter = (WeaklySupervisedSegmentationTransformer)fitted.LastTransformer;
        var viaImages = ml.Data.CreateEnumerable<MaskRow>(fitted.Transform(data), reuseRowObject: false).ToList();
        var probabilities = fitted.Transform(data).GetColumn<float[]>("ClassProbabilities").ToList();

        // The prediction step of the path-trained model, given MLImages in the column it reads.
        var images = ml.Transforms.LoadImages("ImagePath", imageFolder: null, inputColumnName: "ImagePath").Fit(data).Transform(data);
        Assert.IsInstanceOfType<Microsoft.ML.Transforms.Image.ImageDataViewType>(images.Schema["ImagePath"].Type);
        var predicted = model.Transform(images).GetColumn<uint[]>("PredictedMask").ToList();

        for (int i = 0; i < rows.Count; i++)
        {
            CollectionAssert.AreEqual(viaPaths[i].PredictedMask, viaImages[i].PredictedMask, $"row {i}: trained on MLImages vs on paths");
            CollectionAssert.AreEqual(viaPaths[i].PredictedMask, predicted[i], $"row {i}: predicted from an MLImage vs from the path");

            // A 3-iteration model may label every pixel background: the probabilities show that the networks are the same.
            float[] expected = model.Model.Predict(ImageCodec.Decode(rows[i].ImagePath), new Wsss.Inference.PredictionOptions { IncludeProbabilities = true }).Probabilities!;
            CollectionAssert.AreEqual(expected, probabilities[i], $"row {i}: probabilities of the MLImage-trained network vs the path-trained one");
        }
    }

    [TestMethod]
    public void MLImageConversion_BgraAndRgbaPixels_GiveTheSameRgbImage()
    {
        var rgb = new Wsss.Imaging.RgbImage(3, 5);
        var random = new Random(3);
        random.NextBytes(rgb.Pixels);
        byte[] bgra = new byte[3 * 5 * 4], rgba = new byte[3 * 5 * 4];
        for (int i = 0; i < 15; i++)
        {
            (bgra[4 * i], bgra[(4 * i) + 1], bgra[(4 * i) + 2], bgra[(4 * i) + 3]) = (rgb.Pixels[(3 * i) + 2], rgb.Pixels[(3 * i) + 1], rgb.Pixels[3 * i], 255);
            (rgba[4 * i], rgba[(4 * i) + 1], rgba[(4 * i) + 2], rgba[(4 * i) + 3]) = (rgb.Pixels[3 * i], rgb.Pixels[(3 * i) + 1], rgb.Pixels[(3 * i) + 2], 255);
        }

        using var a = Microsoft.ML.Data.MLImage.CreateFromPixels(5, 3, Microsoft.ML.Data.MLPixelFormat.Bgra32, bgra);
        using var b = Microsoft.ML.Data.MLImage.CreateFromPixels(5, 3, Microsoft.ML.Data.MLPixelFormat.Rgba32, rgba);
        CollectionAssert.AreEqual(rgb.Pixels, Internal.ImageColumn.FromMLImage(a, 0, "x").Pixels, "BGRA");
        CollectionAssert.AreEqual(rgb.Pixels, Internal.ImageColumn.FromMLImage(b, 0, "x").Pixels, "RGBA");
    }

    [TestMethod]
    public void SaveLoad_RoundTrip_GivesIdenticalMasks_AndModelSaveExplainsWhatToCall()
    {
        string path = Path.Combine(folder, "model.wsss");
        model.Save(path);
        using var loaded = WeaklySupervisedSegmentationTransformer.Load(path, new SegmentationPredictionOptions { Device = DeviceKind.Cpu });
        var data = ml.Data.LoadFromEnumerable(rows);
        var a = ml.Data.CreateEnumerable<MaskRow>(model.Transform(data), false).ToList();
        var b = ml.Data.CreateEnumerable<MaskRow>(loaded.Transform(data), false).ToList();
        for (int i = 0; i < a.Count; i++)
        {
            CollectionAssert.AreEqual(a[i].PredictedMask, b[i].PredictedMask, $"row {i}");
        }

        var e = Assert.Throws<Exception>(() => ml.Model.Save(model, data.Schema, Path.Combine(folder, "model.zip")), "");
        StringAssert.Contains(e.ToString(), "transformer.Save(path)");
    }

    [TestMethod]
    public void Composition_WithBuiltInTransformsBeforeAndAfter_AndDecodedImages()
    {
        var pipeline = ml.Transforms.CopyColumns("Path", "ImagePath")
            .Append(ml.Transforms.LoadWeaklySupervisedImages("Pixels", "Path"))
            .Append(ml.Transforms.WeaklySupervisedSegment(new WeaklySupervisedSegmentationOptions
            {
                ImagePathColumnName = "Pixels", Backbone = BackboneKind.SmallCnn, Iterations = 2, BatchSize = 2, CropSize = Size, Threads = 1,
                Device = DeviceKind.Cpu, OutputClassProbabilities = true,
            }))
            .Append(ml.Transforms.CopyColumns("Mask", "PredictedMask"));
        var data = ml.Data.LoadFromEnumerable(rows);
        SchemaShape shape = pipeline.GetOutputSchema(SchemaShapeOf(data));
        Assert.IsTrue(shape.Any(c => c.Name == "Mask" && c.Kind == SchemaShape.Column.VectorKind.VariableVector && c.ItemType == NumberDataViewType.UInt32));

        var fitted = pipeline.Fit(data);
        var segmenter = (WeaklySupervisedSegmentationTransformer)fitted.ElementAt(2);
        try
        {
            // GetColumn<uint[]>, not GetColumn<VBuffer<uint>>: ML.NET reuses one VBuffer for every row of
            // GetColumn, so a list of VBuffers holds the last row's values N times. That, not float rounding,
            // made the earlier version of this test see 95% agreement.
            var output = fitted.Transform(data);
            var masks = output.GetColumn<uint[]>("Mask").ToList();
            var probabilities = output.GetColumn<float[]>("ClassProbabilities").ToList();
            var again = fitted.Transform(data).GetColumn<uint[]>("Mask").ToList();
            Assert.HasCount(rows.Count, masks);
            // Reading only a pass-through column must not touch the segmentation step's inputs (PixelsHeight is then inactive).
            Assert.AreEqual(Size * Size * 3, output.GetColumn<byte[]>("Pixels").First().Length);
            for (int i = 0; i < rows.Count; i++)
            {
                CollectionAssert.AreEqual(masks[i], again[i], $"row {i}: a second read gave another mask");

                // The decoded-pixel column and the file decode to the same image, so the same model gives the same mask.
                var expected = segmenter.Model.Predict(ImageCodec.Decode(rows[i].ImagePath), new Wsss.Inference.PredictionOptions { IncludeProbabilities = true });
                CollectionAssert.AreEqual(expected.Mask.Labels.Select(b => (uint)b).ToArray(), masks[i], $"row {i}: mask from decoded pixels vs the core model on the file");
                Assert.HasCount(expected.Probabilities!.Length, probabilities[i]);
                for (int j = 0; j < probabilities[i].Length; j++)
                {
                    Assert.AreEqual(expected.Probabilities[j], probabilities[i][j], 1e-6f, $"row {i}: probability {j}");
                }
            }

            Assert.IsTrue(Enumerable.Range(1, rows.Count - 1).Any(i => !probabilities[i].SequenceEqual(probabilities[0])), "every row got the same probabilities");
        }
        finally
        {
            segmenter.Dispose();
        }
    }

    // SchemaShape.Create(DataViewSchema) is internal to ML.NET; tests call it by reflection to get the
    // shape that EstimatorChain.Fit would propagate.
    private static SchemaShape SchemaShapeOf(IDataView data) =>
        (SchemaShape)typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.Invoke(null, [data.Schema])!;

    private sealed class Counter : IProgress<Wsss.Training.TrainingProgress>
    {
        public void Report(Wsss.Training.TrainingProgress value) => Interlocked.Increment(ref progressReports);
    }
}
